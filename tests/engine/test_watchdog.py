"""The watchdog and the deadline helper: a blocked call is noticed, nested guards do not misfire."""

from __future__ import annotations

import threading
import time

import pytest

from orchestrator.engine.watchdog import Watchdog
from orchestrator.errors import KafkaCallTimeoutError
from orchestrator.transport.deadline import call_with_deadline


def test_a_guarded_call_past_deadline_and_grace_is_reported_with_its_name() -> None:
    fired: list[str] = []
    dog = Watchdog(grace_s=0.2, on_stuck=fired.append, check_interval_s=0.02).start()
    release = threading.Event()

    def blocked() -> None:
        with dog.guard("consumer committed", 0.1):
            release.wait(5)

    worker = threading.Thread(target=blocked)
    worker.start()
    deadline = time.monotonic() + 5
    while not fired and time.monotonic() < deadline:
        time.sleep(0.02)
    release.set()
    worker.join()
    assert len(fired) == 1 and "consumer committed" in fired[0] and "status 70" in fired[0]
    assert dog.stuck_calls == 1


def test_time_in_a_nested_guard_is_not_charged_to_the_enclosing_one() -> None:
    dog = Watchdog(grace_s=10)
    with dog.guard("consumer poll", 0.05):
        with dog.guard("changelog fetch", 5):
            time.sleep(0.2)  # a long restore inside the poll's rebalance callback
            assert [op for op, _ in dog.overdue()] == []
        assert dog.overdue() == []  # the poll's own budget starts again after its callback
    assert dog.overdue() == []


def test_overdue_lists_only_the_innermost_guard_of_each_thread() -> None:
    dog = Watchdog(grace_s=10)
    with dog.guard("outer", 100), dog.guard("inner", 0.0):
        time.sleep(0.01)
        assert [op for op, _ in dog.overdue()] == ["inner"]


def test_call_with_deadline_returns_raises_or_gives_up_at_the_deadline() -> None:
    assert call_with_deadline("quick", 1.0, lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_deadline("failing", 1.0, lambda: 1 // 0)
    release = threading.Event()
    with pytest.raises(KafkaCallTimeoutError) as raised:
        call_with_deadline("send_offsets_to_transaction", 0.1, lambda: release.wait(5))
    release.set()
    assert raised.value.operation == "send_offsets_to_transaction" and raised.value.timeout_s == 0.1


def test_a_progress_scope_inside_a_poll_is_never_overdue_and_does_not_charge_the_poll() -> None:
    dog = Watchdog(grace_s=10)
    with dog.guard("consumer poll", 0.05):
        with dog.progress("rebalance callback: assign"):
            time.sleep(0.15)  # applying restored records between guarded fetches, or a retry back-off
            assert dog.overdue() == []
        assert dog.overdue() == []
