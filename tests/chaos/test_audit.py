"""The chaos audit on hand-written committed logs: a healthy one passes, each doctored one fails.

No broker: the audit reads a committed log, so every guarantee it checks is shown failing here
on the smallest log that breaks it (tests/chaos/test_chaos_run.py does the same on a real run).
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.audit import AuditResult, audit
from tests.chaos.log_builder import LogBuilder


def judged(build: Callable[[LogBuilder], None]) -> AuditResult:
    log = LogBuilder()
    build(log)
    return audit(log.run(), log.entries, log.serde)


def healthy(log: LogBuilder) -> None:
    log.completed_saga("w-1")
    log.declined_saga("w-2")


def test_a_healthy_log_passes_with_every_input_accounted_for() -> None:
    result = judged(healthy)
    assert result.passed, result.violations
    assert result.outcomes == {"completed": 1, "compensated": 1}
    assert result.commands == 6
    assert {k: (f.total, f.events) for k, f in result.inputs.items()} == {"start": (2, 2), "reply": (6, 6)}


def test_a_command_committed_twice_is_a_duplicate() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        command = next(e for e in log.entries if e.role == "commands")
        log.entries.append(command)

    result = judged(doctored)
    assert not result.passed
    assert result.duplicate_commands == ["w-1/0 attempt 1 x2"]


def test_a_workflow_that_never_ends_is_lost() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        log.start("w-3")
        log.started("w-3")
        log.step("w-3", 0, "inventory")

    result = judged(doctored)
    assert not result.passed
    assert result.lost_workflows == ["w-3 (last event: StepCompleted)"]


def test_a_reply_that_left_no_trace_is_a_lost_input() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        log.reply("w-1", 2, attempt=2)  # a second answer nobody recorded

    result = judged(doctored)
    assert not result.passed
    assert result.lost_inputs == ["w-1/2 attempt 2 (success): no event shows it was applied"]


def test_a_reply_for_an_unknown_workflow_must_reach_the_dlq() -> None:
    def dropped(log: LogBuilder) -> None:
        healthy(log)
        log.ghost_reply()

    result = judged(dropped)
    assert not result.passed
    assert result.inputs["unknown-workflow"].lost == 1

    def dead_lettered(log: LogBuilder) -> None:
        healthy(log)
        log.dead_letter(log.ghost_reply(), "unknown-workflow")

    result = judged(dead_lettered)
    assert result.passed, result.violations
    assert result.inputs["unknown-workflow"].dlq == 1
    assert result.dlq_by_reason == {"unknown-workflow": 1}


def test_replayed_and_late_replies_are_accounted_by_their_reply_ignored_events() -> None:
    def replayed(log: LogBuilder) -> None:
        healthy(log)
        reply = next(e.record for e in log.entries if e.role == "inbox" and e.record.header("sb-reply-status"))
        log.injected(reply, "replayed-reply")
        log.ignored("w-1", 0, "duplicate")

    result = judged(replayed)
    assert result.passed, result.violations
    assert result.inputs["replayed-reply"].events == 1
    assert result.ignored_replies == {"duplicate": 1}


def test_an_abandoned_success_is_an_effect_left_uncompensated() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        log.reply("w-2", 1)  # the declined charge succeeded after all, late
        log.ignored("w-2", 1, "abandoned")

    result = judged(doctored)
    assert not result.passed
    assert result.abandoned == ["w-2/1 attempt 1"]


def test_a_compensated_saga_with_a_step_never_undone_is_caught() -> None:
    result = judged(lambda log: log.declined_saga("w-2", compensate=False))
    assert not result.passed
    assert result.uncompensated == ["w-2 (compensated): 1 forward steps completed, 0 compensated"]


def test_a_start_sent_but_never_on_the_inbox_is_lost_before_the_engine() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        log.start("w-3")
        log.entries.pop()

    result = judged(doctored)
    assert result.not_on_inbox == ["w-3"]
    assert not result.passed


def test_a_second_start_event_is_a_duplicate() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        log.started("w-1")

    result = judged(doctored)
    assert result.duplicate_starts == ["w-1 x2"]
    assert not result.passed


def test_a_parked_workflow_is_stuck_in_this_workload() -> None:
    def doctored(log: LogBuilder) -> None:
        healthy(log)
        log.start("w-3")
        log.started("w-3")
        log.parked("w-3")

    result = judged(doctored)
    assert result.parked == ["w-3"]
    assert not result.passed


def test_a_declined_order_that_completed_has_the_wrong_outcome() -> None:
    result = judged(lambda log: log.completed_saga("w-1", declined=True))
    assert result.wrong_outcomes == ["w-1: completed, but it was declined"]
    assert not result.passed
