"""Which triggers and outcomes an event matches, and what each one asks the engine to do.

Pure: a `SourceEvent` in, `Effect`s out (plain data, no Kafka, no encoding). The connector
runtime encodes effects into inbox records; shadow mode (issue 11) groups events into cases with
`Matcher.correlate`, by the very same correlation keys.

Matching: the event's topic is one of the matcher's `topics`, its type equals `event` (if set),
and `when` (if set) is truthy. Every matching trigger and outcome has an effect, in file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from orchestrator.bridge.errors import MappingError
from orchestrator.bridge.events import SourceEvent
from orchestrator.bridge.expressions import Template
from orchestrator.bridge.mapping import (
    ConnectorConfig,
    InboxRecordKind,
    OnMissing,
    Outcome,
    OutcomeStatus,
    Trigger,
)
from orchestrator.bridge.shaping import RecordShaper
from orchestrator.serialization import SchemaRepository
from orchestrator.workflow import ErrorInfo

DEFAULT_BUFFER_TTL = timedelta(minutes=10)


@dataclass(frozen=True)
class StartEffect:
    """Start `workflow_type` as `workflow_id` with `input` (idempotent on the id)."""

    trigger: str
    workflow_id: str
    message_id: str
    workflow_type: str
    input_schema: str
    input: dict[str, Any]


@dataclass(frozen=True)
class SignalEffect:
    """Signal an existing workflow; `on_missing` says what the engine does if it does not exist yet."""

    trigger: str
    workflow_id: str
    message_id: str
    signal: str
    payload_schema: str | None
    payload: dict[str, Any] | None
    on_missing: OnMissing  # DROP | DLQ | BUFFER
    buffer_ttl_ms: int | None


@dataclass(frozen=True)
class SignalWithStartEffect:
    """Start the workflow if it is missing, then signal it: one engine turn, so never a lost signal."""

    trigger: str
    workflow_id: str
    message_id: str
    workflow_type: str
    input_schema: str
    input: dict[str, Any]
    signal: str
    payload_schema: str | None
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class OutcomeEffect:
    """A native participant's event as the outcome of its open step: a result, or `error` on failure."""

    trigger: str
    workflow_id: str
    message_id: str
    service: str
    command_type: str | None
    success: bool
    result_schema: str | None
    result: dict[str, Any] | None
    error: ErrorInfo | None = None


Effect = StartEffect | SignalEffect | SignalWithStartEffect | OutcomeEffect


@dataclass(frozen=True)
class CaseKey:
    """Which case an event belongs to, by one trigger or outcome: what shadow mode groups by."""

    matched_by: str
    workflow_id: str
    message_id: str


@dataclass(frozen=True)
class _Bound:
    """A matcher with the label errors use and, for outcomes, its participant's service."""

    label: str
    matcher: Trigger | Outcome
    service: str | None = None


class Matcher:
    """Indexes a config's triggers and outcomes by topic and turns an event into its effects."""

    def __init__(self, config: ConnectorConfig, repo: SchemaRepository) -> None:
        self.config = config
        self.shaper = RecordShaper(repo)
        self._by_topic: dict[str, list[_Bound]] = {}
        for t in config.triggers:
            self._add(_Bound(t.name, t))
        for p in config.participants:
            for i, o in enumerate(p.outcomes):
                self._add(_Bound(o.name or f"{p.service}-outcome-{i}", o, p.service))

    def _add(self, bound: _Bound) -> None:
        for topic in bound.matcher.topics:
            self._by_topic.setdefault(topic, []).append(bound)

    def _matching(self, event: SourceEvent) -> list[_Bound]:
        found = []
        for bound in self._by_topic.get(event.record.topic, []):
            m = bound.matcher
            if m.event is not None and not event.matches_type(m.event):
                continue
            if m.when is not None and not _truthy(m.when.evaluate(event.context)):
                continue
            found.append(bound)
        return found

    def correlate(self, event: SourceEvent) -> list[tuple[str, str]]:
        """(trigger or outcome name, workflow id) for every match."""
        return [(k.matched_by, k.workflow_id) for k in self.case_keys(event)]

    def case_keys(self, event: SourceEvent) -> list[CaseKey]:
        """Every match's workflow id and message id, without mapping inputs or results: the case
        keys of shadow mode, which observes events it need not (and may not be able to) map."""
        out = []
        for bound in self._matching(event):
            m = bound.matcher
            try:
                workflow_id = m.correlation.render(event.context, "correlation")
                message_id = (
                    event.position if m.message_id is None else m.message_id.render(event.context, "message_id")
                )
            except MappingError as exc:
                raise _labelled(exc, bound.label) from exc
            out.append(CaseKey(bound.label, workflow_id, message_id))
        return out

    def match(self, event: SourceEvent) -> list[Effect]:
        """The effects of one event (empty: filtered out). Raises MappingError (-> DLQ)."""
        effects: list[Effect] = []
        for bound in self._matching(event):
            try:
                effects.append(self._effect(bound, event))
            except MappingError as exc:
                raise _labelled(exc, bound.label) from exc
        return effects

    def _effect(self, bound: _Bound, event: SourceEvent) -> Effect:
        ctx = event.context
        m = bound.matcher
        workflow_id = m.correlation.render(ctx, "correlation")
        message_id = event.position if m.message_id is None else m.message_id.render(ctx, "message_id")
        if isinstance(m, Outcome):
            assert bound.service is not None
            return self._outcome(bound.label, bound.service, m, event, workflow_id, message_id)
        kind = m.kind
        if kind is InboxRecordKind.SIGNAL:
            schema, payload = self._payload(m, event)
            missing = m.effective_on_missing
            ttl = m.buffer_ttl or DEFAULT_BUFFER_TTL
            return SignalEffect(
                m.name,
                workflow_id,
                message_id,
                str(m.signal),
                schema,
                payload,
                missing,
                int(ttl / timedelta(milliseconds=1)) if missing is OnMissing.BUFFER else None,
            )
        assert m.input_schema is not None and m.input is not None and m.workflow_type is not None
        data = self.shaper.shape(m.input_schema, m.input, m.input.evaluate(ctx), "input")
        if kind is InboxRecordKind.START:
            return StartEffect(m.name, workflow_id, message_id, m.workflow_type, m.input_schema, data)
        schema, payload = self._payload(m, event)
        return SignalWithStartEffect(
            m.name, workflow_id, message_id, m.workflow_type, m.input_schema, data, str(m.signal), schema, payload
        )

    def _payload(self, m: Trigger, event: SourceEvent) -> tuple[str | None, dict[str, Any] | None]:
        if m.payload is None or m.payload_schema is None:
            return None, None
        return m.payload_schema, self.shaper.shape(
            m.payload_schema, m.payload, m.payload.evaluate(event.context), "payload"
        )

    def _outcome(
        self, label: str, service: str, m: Outcome, event: SourceEvent, workflow_id: str, message_id: str
    ) -> OutcomeEffect:
        ctx = event.context
        if m.status is OutcomeStatus.SUCCESS:
            result = None
            if m.result is not None and m.result_schema is not None:
                result = self.shaper.shape(m.result_schema, m.result, m.result.evaluate(ctx), "result")
            return OutcomeEffect(label, workflow_id, message_id, service, m.command_type, True, m.result_schema, result)
        error_type = _render(m.error_type, ctx, "error_type") or event.event_type or "StepFailed"
        message = _render(m.error_message, ctx, "error_message") or ""
        retryable = m.retryable if isinstance(m.retryable, bool) else _truthy(m.retryable.evaluate(ctx))
        details = {"source": event.position, **({"event_type": event.event_type} if event.event_type else {})}
        error = ErrorInfo(error_type, message, retryable, details)
        return OutcomeEffect(label, workflow_id, message_id, service, m.command_type, False, None, None, error)


def _render(template: Template | None, ctx: dict[str, Any], what: str) -> str | None:
    return None if template is None else template.render(ctx, what)


def _truthy(value: Any) -> bool:
    """JMESPath truthiness: false, null, empty string/list/object are false."""
    return value not in (None, False, "", [], {})


def _labelled(exc: MappingError, label: str) -> MappingError:
    return type(exc)(exc.problem, field_path=exc.field_path, trigger=label)


__all__ = [
    "DEFAULT_BUFFER_TTL",
    "CaseKey",
    "Effect",
    "Matcher",
    "OutcomeEffect",
    "SignalEffect",
    "SignalWithStartEffect",
    "StartEffect",
]
