"""The bridge's connector metrics (orchestrator/bridge/runtime.py registers; docs/metrics.md).

A connector is exactly-once: its counters (`ConnectorStats`) grow only when a transaction commits,
so these observable counters read them at collection time and an aborted, re-processed batch is
never counted twice. Several connectors of one process (`orchestrator run` with `connectors = [...]`)
report side by side, told apart by `sagabridge.connector.domain`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation

from orchestrator import __version__
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.per_provider import PerProvider


class EventOutcome(StrEnum):
    """What became of a source event (`sagabridge.connector.outcome`)."""

    MATCHED = "matched"  # a trigger or step outcome matched: inbox records written
    FILTERED = "filtered"  # nothing matched and the topic does not require a match
    DEAD_LETTERED = "dead_lettered"  # undecodable, unmappable or unmatched on a require_match topic
    ROUTED = "routed"  # its case belongs to choreography (the cutover): relayed, nothing written


class TransactionOutcome(StrEnum):
    """How a connector transaction ended (`sagabridge.checkpoint.outcome`, as the orchestrator's checkpoints)."""

    COMMITTED = "committed"
    ABORTED = "aborted"


@dataclass(frozen=True)
class ConnectorCounts:
    """A connector's committed counters at one moment (`ConnectorRuntime.committed_counts`)."""

    domain: str
    events: int
    matched: int
    filtered: int
    dead_lettered: int
    by_trigger: Mapping[str, int]
    by_reason: Mapping[str, int]
    commits: int
    aborts: int
    producer_recoveries: int


class _Shared:
    def __init__(self, meter: Meter) -> None:
        self.sources: weakref.WeakSet[ConnectorMetrics] = weakref.WeakSet()
        instruments: list[tuple[str, Callable[[CallbackOptions], Iterable[Observation]], str, str]] = [
            (
                m.CONNECTOR_EVENTS,
                self._events,
                "{event}",
                "Source events by what became of them (sagabridge.connector.outcome), once committed.",
            ),
            (
                m.CONNECTOR_EFFECTS,
                self._effects,
                "{record}",
                "Inbox records written (workflow starts, signals, step outcomes) per trigger.",
            ),
            (
                m.CONNECTOR_DEAD_LETTERED,
                self._dead_lettered,
                "{record}",
                "Source events sent to the dead-letter topic, by reason (sagabridge.dlq.reason).",
            ),
            (
                m.CONNECTOR_TRANSACTIONS,
                self._transactions,
                "{transaction}",
                "Connector transactions committed and aborted (an abort rewinds and re-processes).",
            ),
            (
                m.CONNECTOR_PRODUCER_RECOVERIES,
                self._recoveries,
                "{recovery}",
                "Transactional producers replaced in process after a fatal error or a missed deadline.",
            ),
        ]
        for name, callback, unit, description in instruments:
            meter.create_observable_counter(name, [callback], unit=unit, description=description)

    def _counts(self) -> list[ConnectorCounts]:
        return [s.read() for s in list(self.sources)]

    def _events(self, _options: CallbackOptions) -> Iterable[Observation]:
        out: list[Observation] = []
        for c in self._counts():
            routed = c.events - c.matched - c.filtered - c.dead_lettered
            for outcome, n in (
                (EventOutcome.MATCHED, c.matched),
                (EventOutcome.FILTERED, c.filtered),
                (EventOutcome.DEAD_LETTERED, c.dead_lettered),
                (EventOutcome.ROUTED, routed),
            ):
                out.append(Observation(n, {m.CONNECTOR_DOMAIN: c.domain, m.CONNECTOR_OUTCOME: outcome.value}))
        return out

    def _effects(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {m.CONNECTOR_DOMAIN: c.domain, m.CONNECTOR_TRIGGER: trigger})
            for c in self._counts()
            for trigger, n in c.by_trigger.items()
        ]

    def _dead_lettered(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {m.CONNECTOR_DOMAIN: c.domain, m.DLQ_REASON: reason})
            for c in self._counts()
            for reason, n in c.by_reason.items()
        ]

    def _transactions(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(n, {m.CONNECTOR_DOMAIN: c.domain, m.CHECKPOINT_OUTCOME: outcome.value})
            for c in self._counts()
            for outcome, n in ((TransactionOutcome.COMMITTED, c.commits), (TransactionOutcome.ABORTED, c.aborts))
        ]

    def _recoveries(self, _options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(c.producer_recoveries, {m.CONNECTOR_DOMAIN: c.domain}) for c in self._counts()]


_instruments = PerProvider(lambda provider: _Shared(provider.get_meter(m.CONNECTOR_METER, __version__)))


class ConnectorMetrics:
    """One connector's registration; with `provider=None` (metrics off) nothing is reported.

    Keep a reference for as long as the connector runs: the instruments hold it weakly, so a
    stopped and dropped connector leaves the scrape with it.
    """

    def __init__(self, provider: MeterProvider | None, read: Callable[[], ConnectorCounts]) -> None:
        """`read` is called from the collecting thread (a scrape): it must copy, never block."""
        self.read = read
        if provider is not None:
            _instruments.get(provider).sources.add(self)


__all__ = ["ConnectorCounts", "ConnectorMetrics", "EventOutcome", "TransactionOutcome"]
