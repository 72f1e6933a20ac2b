"""The audit: what the committed topics of a run say happened, judged against the guarantees.

Pure: it reads a committed log (committed_log.py) and the run's record, never a broker, so it can
judge a kept run again and a test can feed it a doctored log. What it checks, and why each
failing check is a broken guarantee of docs/design.md:

- every workflow started once and finished once: a workflow started and never finished (nor
  parked) is *lost*, a second start or end event a *duplicate*; every start the workload sent is
  on the inbox (else the client or the broker lost it);
- every inbox record is accounted for: it is in the DLQ (by source partition and offset), or an
  event shows what it did. A reply is matched by (command id, attempt, status) to the event it
  caused: StepCompleted / StepRetrying / ReplyIgnored for that attempt, or, for a permanent
  failure, the StepFailed or WorkflowParked of its step. A start is accounted by the workflow's
  WorkflowStarted, a cancel by the workflow's end. Anything else *neither changed state nor
  reached the DLQ*: a lost input;
- every (command id, attempt) is committed once to the command topics, attempts run 1..n without
  a gap, and each command has its StepScheduled event (both are written in one transaction);
- no effect is left uncompensated: no `ReplyIgnored why=abandoned` (a success for a step that never
  completed), and a compensated or cancelled saga compensated each forward step that completed (in
  the demo workflow every forward step registers its compensation);
- each workflow ended as its input says it must: a declined payment compensates, a cancel cancels
  (or came after the end), anything else completes (the workload's retries are unlimited, so a
  parked workflow is stuck as well).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from chaos.committed_log import LoggedRecord, TopicRole
from chaos.run_record import RunRecord
from examples.orders.services import DECLINED_CUSTOMER_PREFIX
from orchestrator.errors import SagaBridgeError
from orchestrator.serialization import AvroSerde, DecodedRecord
from orchestrator.transport import header_names
from orchestrator.transport.dlq import DLQ_REASON, DLQ_SOURCE_OFFSET, DLQ_SOURCE_PARTITION, DLQ_SOURCE_TOPIC
from orchestrator.transport.records import InboundRecord
from orchestrator.workflow.status import WorkflowStatus

INJECTED_HEADER = "chaos-injected"  # on every record the bad-input injector writes: its kind
EVENTS = "sagabridge.events."
CONTROL = "sagabridge.control."
TERMINAL = {
    "WorkflowCompleted": WorkflowStatus.COMPLETED,
    "WorkflowCompensated": WorkflowStatus.COMPENSATED,
    "WorkflowCancelled": WorkflowStatus.CANCELLED,
    "WorkflowFailed": WorkflowStatus.FAILED,
}
# Error types only the engine's own timers produce: a failure event carrying one was not caused by a reply.
TIMER_ERRORS = frozenset({"AttemptTimeout", "StepTimeout"})
SAMPLE = 10  # ids listed per finding


class InputFate(BaseModel):
    """Where the inbox records of one kind went."""

    total: int = 0
    events: int = 0
    dlq: int = 0
    lost: int = 0


class AuditResult(BaseModel):
    """The figures of one run and the broken guarantees, if any (`passed` is False then)."""

    passed: bool
    violations: list[str] = Field(default_factory=list)
    outcomes: dict[str, int] = Field(default_factory=dict)
    requested: int = 0
    started: int = 0
    lost_workflows: list[str] = Field(default_factory=list)
    parked: list[str] = Field(default_factory=list)
    not_on_inbox: list[str] = Field(default_factory=list)
    duplicate_starts: list[str] = Field(default_factory=list)
    duplicate_ends: list[str] = Field(default_factory=list)
    commands: int = 0
    duplicate_commands: list[str] = Field(default_factory=list)
    attempt_gaps: list[str] = Field(default_factory=list)
    unscheduled_commands: list[str] = Field(default_factory=list)
    lost_inputs: list[str] = Field(default_factory=list)
    inputs: dict[str, InputFate] = Field(default_factory=dict)
    abandoned: list[str] = Field(default_factory=list)
    uncompensated: list[str] = Field(default_factory=list)
    wrong_outcomes: list[str] = Field(default_factory=list)
    ignored_replies: dict[str, int] = Field(default_factory=dict)
    dlq_by_reason: dict[str, int] = Field(default_factory=dict)
    step_retries: dict[str, int] = Field(default_factory=dict)
    events: int = 0


@dataclass
class _Workflow:
    starts: int = 0
    ends: list[str] = field(default_factory=list)
    parked: bool = False
    requested: int = 0
    declined: bool = False
    cancel_requested: bool = False
    forward_completed: int = 0
    compensations_completed: int = 0
    last_event: str = ""


@dataclass
class _Reply:
    workflow_id: str
    command_id: str
    attempt: int
    success: bool
    error_type: str


class _Auditor:
    def __init__(self, run: RunRecord, serde: AvroSerde) -> None:
        self.run = run
        self.serde = serde
        self.result = AuditResult(passed=True)
        self.workflows: dict[str, _Workflow] = defaultdict(_Workflow)
        self.compensation: dict[str, bool] = {}  # command id -> StepScheduled.compensation
        self.scheduled: set[tuple[str, int]] = set()
        # events a reply can be matched to: (command id, attempt, success) exactly, or by command id
        self.exact: Counter[tuple[str, int, bool]] = Counter()
        self.by_step: Counter[str] = Counter()
        self.dead_lettered: set[tuple[int, int]] = set()
        self.inbox_topic = next((t for t, r in run.topics.items() if r == TopicRole.INBOX), "")

    # --- decoding -------------------------------------------------------------------------
    def _decode(self, record: InboundRecord) -> DecodedRecord | None:
        if record.value is None:
            return None
        try:
            return self.serde.decode(record.value)
        except SagaBridgeError:
            return None

    # --- the events topic -----------------------------------------------------------------
    def events(self, records: Iterable[InboundRecord]) -> None:
        # Scheduling first: a StepCompleted is judged by its StepScheduled's compensation flag.
        decoded = [d for d in (self._decode(r) for r in records) if d and d.schema_name.startswith(EVENTS)]
        self.result.events = len(decoded)
        for d in decoded:
            if d.schema_name == EVENTS + "StepScheduled":
                v = d.value
                self.compensation[v["command_id"]] = bool(v.get("compensation"))
                self.scheduled.add((v["command_id"], int(v["attempt"])))
        for d in decoded:
            self._event(d.schema_name[len(EVENTS) :], d.value)

    def _event(self, kind: str, v: dict[str, Any]) -> None:
        wf = self.workflows[str(v["workflow_id"])]
        wf.last_event = kind
        cid, attempt = str(v.get("command_id", "")), int(v.get("attempt") or 0)
        error_type = (v.get("error") or {}).get("error_type", "")
        if kind == "WorkflowStarted":
            wf.starts += 1
        elif kind in TERMINAL:
            wf.ends.append(TERMINAL[kind].value)
            wf.parked = False
        elif kind == "WorkflowParked":
            wf.parked = True
            if v.get("seq") is not None and error_type not in TIMER_ERRORS:
                self.by_step[f"{v['workflow_id']}/{v['seq']}"] += 1
        elif kind == "StepCompleted":
            self.exact[(cid, attempt, True)] += 1
            if self.compensation.get(cid, False):
                wf.compensations_completed += 1
            else:
                wf.forward_completed += 1
        elif kind == "StepRetrying":
            self.result.step_retries[error_type] = self.result.step_retries.get(error_type, 0) + 1
            if error_type not in TIMER_ERRORS:
                self.exact[(cid, attempt, False)] += 1
        elif kind == "StepFailed":
            if error_type not in TIMER_ERRORS:
                self.by_step[cid] += 1
        elif kind == "ReplyIgnored":
            why = str(v["why"])
            self.result.ignored_replies[why] = self.result.ignored_replies.get(why, 0) + 1
            self.exact[(cid, attempt, str(v["status"]) == header_names.STATUS_SUCCESS)] += 1
            if why == "abandoned":
                self.result.abandoned.append(f"{cid} attempt {attempt}")

    # --- the DLQ --------------------------------------------------------------------------
    def dlq(self, records: Iterable[InboundRecord]) -> None:
        for r in records:
            reason = r.header(DLQ_REASON) or "?"
            source = r.header(DLQ_SOURCE_TOPIC) or "?"
            label = reason if source == self.inbox_topic else f"{reason} (from {source})"
            self.result.dlq_by_reason[label] = self.result.dlq_by_reason.get(label, 0) + 1
            if source == self.inbox_topic:
                self.dead_lettered.add(
                    (int(r.header(DLQ_SOURCE_PARTITION) or -1), int(r.header(DLQ_SOURCE_OFFSET) or -1))
                )

    # --- the command topics ---------------------------------------------------------------
    def commands(self, records: Iterable[InboundRecord]) -> None:
        seen: Counter[tuple[str, int]] = Counter()
        for r in records:
            seen[(r.header(header_names.COMMAND_ID) or "", int(r.header(header_names.ATTEMPT) or 0))] += 1
        self.result.commands = sum(seen.values())
        self.result.duplicate_commands = [f"{c} attempt {a} x{n}" for (c, a), n in sorted(seen.items()) if n > 1]
        attempts: dict[str, set[int]] = defaultdict(set)
        for cid, attempt in seen:
            attempts[cid].add(attempt)
        self.result.attempt_gaps = [
            f"{cid}: attempts {sorted(a)}" for cid, a in sorted(attempts.items()) if a != set(range(1, max(a) + 1))
        ]
        self.result.unscheduled_commands = [f"{c} attempt {a}" for c, a in sorted(set(seen) ^ self.scheduled)]

    # --- the inbox ------------------------------------------------------------------------
    def inbox(self, records: Iterable[InboundRecord]) -> None:
        replies: list[tuple[str, _Reply]] = []
        for r in records:
            kind = r.header(INJECTED_HEADER) or ""
            if (r.partition, r.offset) in self.dead_lettered:
                self._fate(kind or self._kind(r), "dlq")
                continue
            if r.header(header_names.REPLY_STATUS) is not None:
                reply = self._valid_reply(r)
                if reply is None:  # the engine must have dead-lettered it
                    self._lost(kind or "reply", r, "an invalid reply not in the DLQ")
                elif reply.workflow_id not in self.workflows or not self.workflows[reply.workflow_id].starts:
                    self._lost(kind or "reply", r, f"a reply for unknown workflow {reply.workflow_id!r} not in the DLQ")
                else:
                    replies.append((kind or "reply", reply))
                continue
            decoded = self._decode(r)
            name = decoded.schema_name[len(CONTROL) :] if decoded and decoded.schema_name.startswith(CONTROL) else ""
            if name == "StartWorkflow" and decoded is not None:
                self._start(kind or "start", r, decoded.value)
            elif name == "CancelWorkflow" and decoded is not None:
                wf_id = str(decoded.value["workflow_id"])
                self.workflows[wf_id].cancel_requested = True
                if self.workflows[wf_id].ends:
                    self._fate(kind or "cancel", "events")
                else:
                    self._lost(kind or "cancel", r, f"a cancel of {wf_id} that never ended")
            else:
                self._lost(kind or "garbage", r, "neither a reply nor a control record, not in the DLQ")
        self._match_replies(replies)

    def _kind(self, r: InboundRecord) -> str:
        if r.header(header_names.REPLY_STATUS) is not None:
            return "reply"
        decoded = self._decode(r)
        return "start" if decoded and decoded.schema_name == CONTROL + "StartWorkflow" else "other"

    def _start(self, kind: str, r: InboundRecord, value: dict[str, Any]) -> None:
        wf_id = str(value["workflow_id"])
        wf = self.workflows[wf_id]
        wf.requested += 1
        try:
            order = self.serde.decode(value["input"], value["input_schema"]).value
            wf.declined = str(order.get("customer_id", "")).startswith(DECLINED_CUSTOMER_PREFIX)
        except (SagaBridgeError, KeyError):
            pass
        if wf.starts:
            self._fate(kind, "events")
        else:
            self._lost(kind, r, f"a start of {wf_id} that never started")

    @staticmethod
    def _valid_reply(r: InboundRecord) -> _Reply | None:
        """The reply the engine must accept (docs/protocol.md), or None for one it must dead-letter."""
        wf, cid = r.header(header_names.WORKFLOW_ID), r.header(header_names.COMMAND_ID)
        status, attempt = r.header(header_names.REPLY_STATUS), r.header(header_names.ATTEMPT)
        if not wf or not cid or attempt is None or status not in ("success", "failure"):
            return None
        if r.key is not None and r.key != wf.encode():
            return None
        if not cid.startswith(wf + "/") or not cid[len(wf) + 1 :].isdigit() or not attempt.strip().isdigit():
            return None
        return _Reply(wf, cid, int(attempt), status == "success", r.header(header_names.ERROR_TYPE) or "")

    def _match_replies(self, replies: list[tuple[str, _Reply]]) -> None:
        """Each reply takes one event it caused; a permanent failure may have settled its step."""
        leftover: list[tuple[str, _Reply]] = []
        for kind, reply in replies:
            key = (reply.command_id, reply.attempt, reply.success)
            if self.exact[key] > 0:
                self.exact[key] -= 1
                self._fate(kind, "events")
            else:
                leftover.append((kind, reply))
        for kind, reply in leftover:
            if not reply.success and self.by_step[reply.command_id] > 0:
                self.by_step[reply.command_id] -= 1
                self._fate(kind, "events")
            else:
                status = "success" if reply.success else "failure"
                what = f"{reply.command_id} attempt {reply.attempt} ({status}): no event shows it was applied"
                self.result.lost_inputs.append(what)
                self._fate(kind, "lost")

    def _fate(self, kind: str, where: str) -> None:
        fate = self.result.inputs.setdefault(kind, InputFate())
        fate.total += 1
        setattr(fate, where, getattr(fate, where) + 1)

    def _lost(self, kind: str, r: InboundRecord, why: str) -> None:
        self.result.lost_inputs.append(f"inbox {r.partition}@{r.offset}: {why}")
        self._fate(kind, "lost")

    # --- per workflow ---------------------------------------------------------------------
    def judge_workflows(self) -> None:
        res = self.result
        outcomes: Counter[str] = Counter()
        for wf_id, wf in sorted(self.workflows.items()):
            if not wf.starts and not wf.requested:
                continue  # only an unknown-workflow reply named it
            res.requested += 1 if wf.requested else 0
            res.started += 1 if wf.starts else 0
            if wf.starts > 1:
                res.duplicate_starts.append(f"{wf_id} x{wf.starts}")
            if len(wf.ends) > 1:
                res.duplicate_ends.append(f"{wf_id}: {', '.join(wf.ends)}")
            if wf.ends:
                outcomes[wf.ends[0]] += 1
                self._judge_outcome(wf_id, wf, wf.ends[0])
            elif wf.parked:
                outcomes[WorkflowStatus.PARKED.value] += 1
                res.parked.append(wf_id)
            else:
                res.lost_workflows.append(f"{wf_id} (last event: {wf.last_event or 'none, never started'})")
        res.outcomes = dict(outcomes)
        on_inbox = {w for w, wf in self.workflows.items() if wf.requested}
        res.not_on_inbox = sorted(set(self.run.load.started_ids) - on_inbox)

    def _judge_outcome(self, wf_id: str, wf: _Workflow, end: str) -> None:
        if end in (WorkflowStatus.COMPENSATED, WorkflowStatus.CANCELLED):
            missing = wf.forward_completed - wf.compensations_completed
            if missing > 0:
                self.result.uncompensated.append(
                    f"{wf_id} ({end}): {wf.forward_completed} forward steps completed, "
                    f"{wf.compensations_completed} compensated"
                )
        if wf.cancel_requested:
            expected = {WorkflowStatus.CANCELLED, WorkflowStatus.COMPLETED, WorkflowStatus.COMPENSATED}
        elif wf.declined:
            expected = {WorkflowStatus.COMPENSATED}
        else:
            expected = {WorkflowStatus.COMPLETED}
        if end not in expected:
            why = (
                "cancelled" if wf.cancel_requested else "declined" if wf.declined else "neither declined nor cancelled"
            )
            self.result.wrong_outcomes.append(f"{wf_id}: {end}, but it was {why}")

    def verdict(self) -> AuditResult:
        res = self.result
        checks = [
            (res.lost_workflows, "workflows started and never finished (lost or stuck)"),
            (res.parked, "workflows parked (nothing in this workload may exhaust its retries: stuck)"),
            (res.not_on_inbox, "starts the workload sent that never reached the inbox"),
            (res.lost_inputs, "inbox records that neither changed state nor reached the DLQ"),
            (res.duplicate_commands, "(command id, attempt) pairs committed more than once"),
            (res.attempt_gaps, "command ids whose attempts are not 1..n"),
            (res.unscheduled_commands, "commands without their StepScheduled event, or the reverse"),
            (res.duplicate_starts, "workflows started more than once"),
            (res.duplicate_ends, "workflows that ended more than once"),
            (res.abandoned, "effects left uncompensated (ReplyIgnored why=abandoned)"),
            (res.uncompensated, "compensated or cancelled sagas with a completed step never compensated"),
            (res.wrong_outcomes, "workflows that did not end as their input says they must"),
        ]
        for found, what in checks:
            if found:
                sample = "; ".join(found[:SAMPLE]) + (" ..." if len(found) > SAMPLE else "")
                res.violations.append(f"{len(found)} {what}: {sample}")
        res.passed = not res.violations
        return res


def audit(run: RunRecord, log: Iterable[LoggedRecord], serde: AvroSerde) -> AuditResult:
    """Judge one run from its committed log (see the module docstring for every check)."""
    by_role: dict[TopicRole, list[InboundRecord]] = defaultdict(list)
    for entry in log:
        by_role[entry.role].append(entry.record)
    auditor = _Auditor(run, serde)
    auditor.events(by_role[TopicRole.EVENTS])
    auditor.dlq(by_role[TopicRole.DLQ])
    auditor.commands(by_role[TopicRole.COMMANDS])
    auditor.inbox(sorted(by_role[TopicRole.INBOX], key=lambda r: (r.partition, r.offset)))
    auditor.judge_workflows()
    return auditor.verdict()
