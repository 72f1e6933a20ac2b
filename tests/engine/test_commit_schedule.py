"""The runner's commit schedule: early once the inbox is idle, never later than the interval."""

from __future__ import annotations

import pytest

from orchestrator.engine.commit_schedule import CommitSchedule


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def schedule(interval_ms: int = 100, idle_ms: int = 0, max_inputs: int = 1000) -> tuple[CommitSchedule, FakeClock]:
    clock = FakeClock()
    return CommitSchedule(interval_ms, idle_ms, max_inputs, clock), clock


def test_nothing_pending_never_commits_and_polls_for_the_wake_time() -> None:
    s, clock = schedule()
    clock.now += 10
    assert not s.due(pending=0, polled=0)
    assert s.poll_timeout(pending=0, wake_s=0.7) == 0.7


def test_a_drained_inbox_commits_at_once_with_idle_zero() -> None:
    s, _clock = schedule(idle_ms=0)
    s.received()
    assert not s.due(pending=5, polled=5)  # the inbox just delivered: more may be there
    assert s.poll_timeout(pending=5, wake_s=1.0) == 0.0  # so look again without waiting
    assert s.due(pending=5, polled=0)  # nothing more: commit now, not at the end of the interval


def test_the_idle_wait_batches_inputs_that_keep_coming() -> None:
    s, clock = schedule(idle_ms=20)
    s.received()
    clock.now += 0.005
    assert s.poll_timeout(pending=3, wake_s=1.0) == pytest.approx(0.015)  # the rest of the idle wait
    assert not s.due(pending=3, polled=0)  # an early wake-up (a timer) is not 20 ms of quiet
    clock.now += 0.015
    assert s.due(pending=3, polled=0)


def test_the_interval_bounds_the_wait_under_steady_input() -> None:
    s, clock = schedule(interval_ms=100, idle_ms=50)
    for _ in range(9):  # an input every 10 ms: never 50 ms of quiet
        clock.now += 0.01
        s.received()
        assert not s.due(pending=1, polled=1)
    assert s.poll_timeout(pending=1, wake_s=1.0) == pytest.approx(0.01)  # the interval's end comes first
    clock.now += 0.011
    s.received()
    assert s.interval_elapsed() and s.due(pending=1, polled=1)
    s.committed()
    assert not s.interval_elapsed()


def test_commit_every_caps_the_inputs_of_one_checkpoint() -> None:
    s, _clock = schedule(idle_ms=100, max_inputs=10)
    s.received()
    assert not s.due(pending=9, polled=9)
    assert s.due(pending=10, polled=10)


def test_idle_equal_to_the_interval_is_the_plain_interval_schedule() -> None:
    s, clock = schedule(interval_ms=100, idle_ms=100)
    s.received()
    clock.now += 0.05
    assert not s.due(pending=1, polled=0)
    assert s.poll_timeout(pending=1, wake_s=1.0) == pytest.approx(0.05)
    clock.now += 0.05
    assert s.due(pending=1, polled=0)
