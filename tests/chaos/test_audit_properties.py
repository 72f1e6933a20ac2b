"""The chaos audit under Hypothesis: any healthy log passes, and any one doctoring of it fails.

Healthy logs are generated sagas (completed with retries and attempt timeouts, declined and
compensated, cancelled mid-way and compensated), replayed replies and garbage that reached the
DLQ. Each doctoring is one broken guarantee; the audit must name it, whatever saga it hits.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from chaos.audit import INJECTED_HEADER, AuditResult, audit
from chaos.committed_log import LoggedRecord, TopicRole
from orchestrator.transport import header_names
from tests.chaos.log_builder import LogBuilder

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Saga:
    kind: str  # completed | declined | cancelled
    failures: tuple[int, int, int]  # failed attempts before each forward step succeeds
    cancel_after: int  # forward steps completed before a cancel
    replays: int  # the first step's successful reply, replayed


sagas = st.builds(
    Saga,
    kind=st.sampled_from(["completed", "declined", "cancelled"]),
    failures=st.tuples(*[st.integers(0, 3)] * 3),
    cancel_after=st.integers(0, 3),
    replays=st.integers(0, 2),
)
garbage = st.lists(st.none() | st.binary(max_size=24), max_size=3)


def build(plan: list[Saga], junk: list[bytes | None]) -> LogBuilder:
    log = LogBuilder()
    for i, saga in enumerate(plan):
        wf = f"w-{i}"
        if saga.kind == "completed":
            log.completed_saga(wf, failures=saga.failures)
        elif saga.kind == "declined":
            log.declined_saga(wf)
        else:
            log.cancelled_saga(wf, completed_steps=saga.cancel_after)
        first = next(
            (
                e.record
                for e in log.entries
                if e.role == TopicRole.INBOX
                and e.record.header(header_names.COMMAND_ID) == f"{wf}/0"
                and e.record.header(header_names.REPLY_STATUS) == "success"
            ),
            None,
        )
        for _ in range(saga.replays if first is not None else 0):
            assert first is not None
            log.injected(first, "replayed-reply")
            log.ignored(wf, 0, "duplicate", attempt=int(first.header(header_names.ATTEMPT) or 0))
    for value in junk:
        log.dead_letter(log.garbage(value), "malformed")
    return log


def judge(log: LogBuilder, entries: list[LoggedRecord] | None = None) -> AuditResult:
    return audit(log.run(), log.entries if entries is None else entries, log.serde)


def _expected_outcome(saga: Saga) -> str:
    if saga.kind == "cancelled":
        return "cancelled"
    return "compensated" if saga.kind == "declined" else "completed"


@SETTINGS
@given(plan=st.lists(sagas, min_size=1, max_size=5), junk=garbage)
def test_every_healthy_log_passes_with_its_outcomes_and_inputs_counted(
    plan: list[Saga], junk: list[bytes | None]
) -> None:
    log = build(plan, junk)
    result = judge(log)
    assert result.passed, result.violations
    assert result.outcomes == dict(Counter(_expected_outcome(s) for s in plan))
    assert result.started == result.requested == len(plan)
    assert result.commands == sum(1 for e in log.entries if e.role == TopicRole.COMMANDS)
    assert all(f.lost == 0 for f in result.inputs.values())
    assert result.inputs["start"].events == len(plan)
    if junk:
        assert result.inputs["garbage"].dlq == len(junk)
    replays = sum(s.replays for s in plan if s.kind != "cancelled" or s.cancel_after > 0)  # a step to replay
    if replays:
        assert result.inputs["replayed-reply"].events == replays
        assert result.ignored_replies == {"duplicate": replays}


@SETTINGS
@given(plan=st.lists(sagas, min_size=1, max_size=4), junk=garbage, seed=st.randoms(use_true_random=False))
def test_the_verdict_depends_on_each_topics_order_only(
    plan: list[Saga], junk: list[bytes | None], seed: random.Random
) -> None:
    """The dump interleaves topics as the broker hands them out: that must not change a figure."""
    log = build(plan, junk)
    by_topic: dict[str, list[LoggedRecord]] = {}
    for entry in log.entries:
        by_topic.setdefault(entry.record.topic, []).append(entry)
    queues = list(by_topic.values())
    interleaved: list[LoggedRecord] = []
    while queues:
        queue = seed.choice(queues)
        interleaved.append(queue.pop(0))
        queues = [q for q in queues if q]
    assert judge(log, interleaved) == judge(log)


# --- doctorings: each takes a healthy log and breaks one guarantee, or returns None if it cannot -----------


def _events(log: LogBuilder, name: str) -> list[LoggedRecord]:
    return [
        e
        for e in log.entries
        if e.role == TopicRole.EVENTS
        and e.record.value is not None
        and log.serde.decode(e.record.value).schema_name == f"sagabridge.events.{name}"
    ]


def _value(log: LogBuilder, entry: LoggedRecord) -> dict[str, Any]:
    return log.serde.decode(entry.record.value or b"").value


def _values(log: LogBuilder, name: str) -> list[dict[str, Any]]:
    return [_value(log, e) for e in _events(log, name)]


def _pick(data: st.DataObject, candidates: list[LoggedRecord]) -> LoggedRecord | None:
    return data.draw(st.sampled_from(candidates)) if candidates else None


def _drop(log: LogBuilder, entry: LoggedRecord) -> None:
    log.entries.remove(entry)


Named = Callable[[AuditResult], bool] | None
ENDS = ("WorkflowCompleted", "WorkflowCompensated", "WorkflowCancelled")


def _commands(log: LogBuilder) -> list[LoggedRecord]:
    return [e for e in log.entries if e.role == TopicRole.COMMANDS]


def _ends(log: LogBuilder) -> list[LoggedRecord]:
    return [e for kind in ENDS for e in _events(log, kind)]


def duplicate_a_command(log: LogBuilder, data: st.DataObject) -> Named:
    if (command := _pick(data, _commands(log))) is None:
        return None
    log.entries.append(command)
    cid = command.record.header(header_names.COMMAND_ID)
    return lambda r: any(d.startswith(f"{cid} attempt ") for d in r.duplicate_commands)


def drop_a_command(log: LogBuilder, data: st.DataObject) -> Named:
    if (command := _pick(data, _commands(log))) is None:
        return None
    _drop(log, command)
    return lambda r: bool(r.unscheduled_commands)


def drop_an_end(log: LogBuilder, data: st.DataObject) -> Named:
    if (end := _pick(data, _ends(log))) is None:
        return None
    _drop(log, end)
    wf = (end.record.key or b"").decode()
    return lambda r: any(w.split(" ")[0] == wf for w in r.lost_workflows)


def end_twice(log: LogBuilder, data: st.DataObject) -> Named:
    if (end := _pick(data, _ends(log))) is None:
        return None
    log.entries.append(end)
    return lambda r: bool(r.duplicate_ends)


def start_twice(log: LogBuilder, data: st.DataObject) -> Named:
    if (started := _pick(data, _events(log, "WorkflowStarted"))) is None:
        return None
    log.entries.append(started)
    return lambda r: bool(r.duplicate_starts)


def drop_a_compensation(log: LogBuilder, data: st.DataObject) -> Named:
    """A compensation's StepCompleted vanishes: the saga ended with a completed step never undone."""
    compensating = {v["command_id"] for v in _values(log, "StepScheduled") if v["compensation"]}
    undone = [e for e in _events(log, "StepCompleted") if _value(log, e)["command_id"] in compensating]
    if (completed := _pick(data, undone)) is None:
        return None
    _drop(log, completed)
    return lambda r: bool(r.uncompensated)


def lose_a_dead_letter(log: LogBuilder, data: st.DataObject) -> Named:
    """Garbage that never reached the DLQ: dropped without a trace."""
    if (dead := _pick(data, [e for e in log.entries if e.role == TopicRole.DLQ])) is None:
        return None
    _drop(log, dead)
    return lambda r: r.inputs["garbage"].lost == 1 and bool(r.lost_inputs)


def drop_what_a_reply_did(log: LogBuilder, data: st.DataObject) -> Named:
    """A retry or a ReplyIgnored that a reply caused vanishes: the reply changed nothing, reached no DLQ."""
    retries = [e for e in _events(log, "StepRetrying") if _value(log, e)["error"]["error_type"] != "AttemptTimeout"]
    if (caused := _pick(data, retries + _events(log, "ReplyIgnored"))) is None:
        return None
    _drop(log, caused)
    return lambda r: bool(r.lost_inputs)


def _control(log: LogBuilder, name: str) -> list[LoggedRecord]:
    return [
        e
        for e in log.entries
        if e.role == TopicRole.INBOX
        and e.record.value is not None
        and e.record.header(header_names.REPLY_STATUS) is None
        and e.record.header(INJECTED_HEADER) is None
        and log.serde.decode(e.record.value).schema_name == f"sagabridge.control.{name}"
    ]


def never_reach_the_inbox(log: LogBuilder, data: st.DataObject) -> Named:
    """A start the workload sent is not on the inbox, yet the workflow ran: the audit must notice."""
    if (start := _pick(data, _control(log, "StartWorkflow"))) is None:
        return None
    _drop(log, start)
    wf = (start.record.key or b"").decode()
    return lambda r: r.not_on_inbox == [wf]


def cancel_without_a_request(log: LogBuilder, data: st.DataObject) -> Named:
    """Nobody asked to cancel this workflow, yet it was cancelled: the wrong outcome."""
    if (cancel := _pick(data, _control(log, "CancelWorkflow"))) is None:
        return None
    _drop(log, cancel)
    wf = (cancel.record.key or b"").decode()
    return lambda r: any(w.startswith(f"{wf}: cancelled") for w in r.wrong_outcomes)


Doctoring = Callable[[LogBuilder, st.DataObject], Named]
DOCTORINGS: list[Doctoring] = [
    duplicate_a_command,
    drop_a_command,
    drop_an_end,
    end_twice,
    start_twice,
    drop_a_compensation,
    lose_a_dead_letter,
    drop_what_a_reply_did,
    never_reach_the_inbox,
    cancel_without_a_request,
]


@SETTINGS
@given(
    plan=st.lists(sagas, min_size=1, max_size=4),
    junk=garbage,
    doctoring=st.sampled_from(DOCTORINGS),
    data=st.data(),
)
def test_any_one_broken_guarantee_fails_the_audit_and_is_named(
    plan: list[Saga], junk: list[bytes | None], doctoring: Doctoring, data: st.DataObject
) -> None:
    log = build(plan, junk)
    named = doctoring(log, data)
    assume(named is not None)
    result = judge(log)
    assert not result.passed
    assert result.violations
    assert named is not None and named(result), result.violations
