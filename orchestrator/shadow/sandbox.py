"""Compare, for one case: the real workflow, dry-run on the case's observed events, against them.

The workflow runs in `orchestrator.testing.WorkflowEnvironment`: the real engine core, in
process, on a virtual clock, with no broker. Nothing is sent anywhere: the commands it emits are
only recorded. The case's events go through the very mapping the bridge would use (`Matcher` +
`InboxWriter`), in time order, with the clock moved to each event's timestamp first (so the
workflow's timeouts and retries see the choreography's real latencies):

- a start (or signal) is delivered as is;
- an outcome (a native participant's event) is delivered when the workflow has a step of that
  service and command type open: choreography did what the workflow asked. Otherwise it is
  **held**: the workflow may ask for it later (then choreography did it too early: wrong order,
  if a later event settled another step meanwhile) or never (unexpected, or repeated if the
  workflow ran that step already).
- when the case's events are exhausted and the workflow still waits on a step, choreography
  never did it: a **missing step** (a missing compensation when the step is one). The sandbox
  answers it with a neutral success (the result record's defaults) and carries on, so one
  skipped step is reported once, not as a cascade.

This is an alignment in the process-mining sense (synchronous, log and model moves), with the
real workflow code as the model.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orchestrator.bridge.errors import MappingError
from orchestrator.bridge.events import SourceEvent, decode_event
from orchestrator.bridge.inbox import InboxWriter
from orchestrator.bridge.mapping import ConnectorConfig, OutcomeStatus, SourceTopic, ValueFormat
from orchestrator.bridge.matching import Matcher, OutcomeEffect, SignalWithStartEffect, StartEffect
from orchestrator.engine.state_records import StepRecord
from orchestrator.errors import DecodeError
from orchestrator.serialization import AvroSerde, SchemaRepository
from orchestrator.shadow.avro_defaults import neutral_record
from orchestrator.shadow.case_store import StoredCase, StoredEvent
from orchestrator.shadow.verdicts import CaseResult, Deviation, DeviationKind, Verdict
from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport.records import InboundRecord, OutboundRecord
from orchestrator.workflow import WorkflowRegistry
from orchestrator.workflow.status import WorkflowStatus

SANDBOX_APP = "shadow-sandbox"
MAX_MODEL_MOVES = 100  # a workflow that keeps asking for steps nobody does: stop somewhere


@dataclass
class _Held:
    """An outcome the workflow did not (yet) ask for."""

    position: int  # index of its event in the case, in time order
    effect: OutcomeEffect
    record: OutboundRecord
    activity: str
    overtaken: bool = False  # a later event settled a step while this one waited


class Sandbox:
    """Judges cases of one domain against one workflow registry. Reuse it for many cases."""

    def __init__(
        self,
        config: ConnectorConfig,
        registry: WorkflowRegistry,
        repo: SchemaRepository,
        serde: AvroSerde,
        source_serdes: dict[ValueFormat, AvroSerde] | None = None,
    ) -> None:
        self.registry = registry
        self.serde = serde
        self.repo = repo
        self.matcher = Matcher(config, repo)
        self.writer = InboxWriter(serde, f"{SANDBOX_APP}.inbox")
        self._sources: dict[str, SourceTopic] = {s.topic: s for s in config.sources}
        self._serdes = dict(source_serdes or {})
        self._results: dict[tuple[str, str], str] = {}  # (service, command type) -> result schema
        for participant in config.participants:
            for outcome in participant.outcomes:
                if outcome.status is OutcomeStatus.SUCCESS and outcome.result_schema and outcome.command_type:
                    self._results.setdefault((participant.service, outcome.command_type), outcome.result_schema)
        self.compensation_types: set[str] = set()  # learned: command types the workflow ran as compensations

    # -- one case ----------------------------------------------------------------------------
    def judge(self, case: StoredCase, *, settled: bool) -> CaseResult:
        """`settled`: no more events are expected (idle past stall_after); else an unfinished
        run is reported in progress rather than with missing steps."""
        run = _Run(self, case)
        return run.judge(settled)

    def event_of(self, event: StoredEvent) -> SourceEvent:
        """Rebuild the bridge's view of an observed record from the bytes shadow kept."""
        o = event.observation
        record = InboundRecord(
            topic=o.source_topic,
            partition=o.source_partition,
            offset=o.source_offset,
            key=o.key,
            value=o.value,
            headers=tuple((h.name, h.value) for h in o.headers),
            timestamp_ms=o.timestamp_ms,
        )
        source = self._sources.get(o.source_topic)
        if source is None:
            raise DecodeError(f"topic {o.source_topic!r} is no longer declared under [[source]]")
        return decode_event(record, source, self._serdes.get(source.format))

    def neutral_result(self, step: StepRecord) -> tuple[str | None, dict[str, Any] | None]:
        """A success result for a step choreography never did, so the dry run can carry on past it."""
        schema = self._results.get((step.service, step.command_type))
        if schema is None:
            return None, None
        return schema, neutral_record(self.repo.schema(schema))


class _Run:
    """The dry run of one case."""

    def __init__(self, sandbox: Sandbox, case: StoredCase) -> None:
        self.sb = sandbox
        self.case = case
        self.wf = case.case_id
        first = case.events[0].observation.timestamp_ms if case.events else 0
        self.env = WorkflowEnvironment(sandbox.registry, app=SANDBOX_APP, serde=sandbox.serde, start_time=first)
        self.held: list[_Held] = []
        self.deviations: list[Deviation] = []
        self.started = False

    def judge(self, settled: bool) -> CaseResult:
        try:
            for position, event in enumerate(self.case.events):
                self._observe(position, event)
            if not self.started:
                return CaseResult(self.wf, Verdict.NOT_STARTED)
            if not self._finished() and not settled:
                return self._result(Verdict.IN_PROGRESS)
            self._exhaust()
            self._leftovers()
            return self._result(Verdict.DEVIATES if self.deviations else Verdict.CONFORMS)
        finally:
            self.env.close()

    # -- feeding the observed events -------------------------------------------------------
    def _observe(self, position: int, event: StoredEvent) -> None:
        try:
            source_event = self.sb.event_of(event)
            effects = [e for e in self.sb.matcher.match(source_event) if e.workflow_id == self.wf]
        except (DecodeError, MappingError):
            return  # shadow observed it, the mapping cannot map it: the bridge would dead-letter it
        if not effects:
            return
        at = event.observation.timestamp_ms
        if at > self.env.now_ms:
            self.env.advance(at - self.env.now_ms)
        for effect in effects:
            record = self.sb.writer.record(effect, source_event)
            if isinstance(effect, OutcomeEffect):
                held = _Held(position, effect, record, event.observation.activity)
                if not (self.started and self._try_settle(held)):
                    self.held.append(held)
                else:
                    self._settled_at(position)
            else:
                self.env.send(self.env.records.redeliver(record))
                self.started |= isinstance(effect, StartEffect | SignalWithStartEffect)
            self._drain()

    def _try_settle(self, held: _Held) -> bool:
        """Deliver the outcome if the workflow has that step open and the engine applies it."""
        if self._open_step(held.effect) is None:
            return False
        stats = self.env.engine.correlation.stats
        before = stats.outcomes_applied
        self.env.send(self.env.records.redeliver(held.record))
        return stats.outcomes_applied > before

    def _open_step(self, effect: OutcomeEffect) -> StepRecord | None:
        for step in self.env.open_steps(self.wf):
            if step.service == effect.service and effect.command_type in (None, step.command_type):
                return step
        return None

    def _settled_at(self, position: int) -> None:
        """A real event settled a step: outcomes held from before it were overtaken."""
        for held in self.held:
            if held.position < position:
                held.overtaken = True

    def _drain(self) -> None:
        """Deliver held outcomes the workflow now asks for, oldest first, until none fits."""
        progress = True
        while progress and self.held:
            progress = False
            for held in sorted(self.held, key=lambda h: h.position):
                if self._try_settle(held):
                    self.held.remove(held)
                    if held.overtaken:
                        self._deviate(
                            DeviationKind.WRONG_ORDER,
                            held.effect,
                            held.activity,
                            "done before the step the workflow runs first",
                        )
                    self._settled_at(held.position)
                    progress = True
                    break

    # -- after the last event --------------------------------------------------------------
    def _finished(self) -> bool:
        try:
            return WorkflowStatus(self.env.header(self.wf).status) is not WorkflowStatus.RUNNING
        except KeyError:
            return False

    def _exhaust(self) -> None:
        """Answer every step the workflow still waits for with a neutral success: each is missing."""
        for _ in range(MAX_MODEL_MOVES):
            self._drain()
            if self._finished():
                return
            open_steps = self.env.open_steps(self.wf)
            if not open_steps:
                self.env.run_until_idle()  # a sleep or a timer: let it pass
                if self._finished() or not self.env.open_steps(self.wf):
                    return  # waiting for a signal nobody sends (or done)
                continue
            step = min(open_steps, key=lambda s: s.seq)
            kind = DeviationKind.MISSING_COMPENSATION if step.compensation else DeviationKind.MISSING_STEP
            self.deviations.append(Deviation(kind, step.service, step.command_type, None, "never observed"))
            schema, result = self.sb.neutral_result(step)
            self.env.send(
                self.env.records.success(self.wf, step.command_id, step.attempt, result, result_schema=schema)
            )

    def _leftovers(self) -> None:
        issued = {(c.service, c.command_type) for c in self.env.commands(self.wf)}
        for held in sorted(self.held, key=lambda h: h.position):
            effect = held.effect
            ran = any(s == effect.service and effect.command_type in (None, t) for s, t in issued)
            if ran:
                self._deviate(DeviationKind.REPEATED_STEP, effect, held.activity, "the workflow runs it once")
            else:
                self._deviate(DeviationKind.UNEXPECTED_STEP, effect, held.activity, "the workflow never runs it")

    def _deviate(self, kind: DeviationKind, effect: OutcomeEffect, activity: str, detail: str) -> None:
        self.deviations.append(Deviation(kind, effect.service, effect.command_type or "?", activity, detail))

    def _result(self, verdict: Verdict) -> CaseResult:
        scheduled = self.env.events(self.wf, "StepScheduled")
        for event in scheduled:
            if event.value.get("compensation"):
                self.sb.compensation_types.add(str(event.value["command_type"]))
        first_attempts = [e.value for e in scheduled if e.value["attempt"] == 1]
        try:
            status: str | None = self.env.header(self.wf).status
        except KeyError:
            status = None
        return CaseResult(
            self.wf,
            verdict,
            list(self.deviations),
            workflow_status=status,
            commands=[f"{v['service']} {str(v['command_type']).rsplit('.', 1)[-1]}" for v in first_attempts],
            retries=len(scheduled) - len(first_attempts),
        )


def judge_all(sandbox: Sandbox, cases: Iterable[tuple[StoredCase, bool]]) -> list[CaseResult]:
    """Judge each (case, settled) pair in order with one sandbox."""
    return [sandbox.judge(case, settled=settled) for case, settled in cases]


__all__ = ["SANDBOX_APP", "Sandbox", "judge_all"]
