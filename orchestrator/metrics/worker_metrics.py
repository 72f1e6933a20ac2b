"""The worker SDK's metrics (orchestrator/worker/service.py calls in; docs/metrics.md).

A participant is at-least-once, not transactional, so it records as it goes: commands consumed and
handler durations under the messaging semantic conventions, and what became of each command
(`sagabridge.worker.commands` by outcome). Instruments are shared per meter provider, so several
`Service`s in one process report side by side, told apart by `sagabridge.step.service`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum

from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.util.types import AttributeValue

from orchestrator import __version__
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.messaging_metrics import consumed_counter
from orchestrator.metrics.per_provider import PerProvider
from orchestrator.metrics.tally import Tally, reading_gauge, tally_counter
from orchestrator.transport.records import InboundRecord


class CommandOutcome(StrEnum):
    """What a service did with a command (`sagabridge.worker.outcome`)."""

    SUCCEEDED = "succeeded"  # the handler ran and returned a result
    FAILED = "failed"  # the handler raised: a failure reply (error.type, retryable or not)
    DEDUPLICATED = "deduplicated"  # answered from the stored outcome of an earlier delivery
    DECLINED = "declined"  # flagged sb-cancel-requested before it ran: answered without running
    DEAD_LETTERED = "dead_lettered"  # no protocol headers to answer with: sent to the DLQ
    UNANSWERABLE = "unanswerable"  # no protocol headers and no DLQ configured: logged and skipped


class _Shared:
    def __init__(self, meter: Meter, consumed: Tally) -> None:
        """`consumed`: the process-wide messaging counter of the same provider (messaging_metrics.py)."""
        self.sources: weakref.WeakSet[ServiceMetrics] = weakref.WeakSet()
        kafka = {m.MESSAGING_SYSTEM: m.SYSTEM_KAFKA}
        self.consumed = consumed
        self.commands = tally_counter(
            meter,
            m.WORKER_COMMANDS,
            "{command}",
            "Commands by what became of them (sagabridge.worker.outcome).",
            (m.STEP_SERVICE, m.STEP_COMMAND_TYPE, m.WORKER_OUTCOME, m.ERROR_TYPE),
        )
        self.process_keys = Tally(
            (m.MESSAGING_DESTINATION_NAME, m.MESSAGING_CONSUMER_GROUP_NAME, m.STEP_COMMAND_TYPE, m.ERROR_TYPE),
            {**kafka, m.MESSAGING_OPERATION_NAME: m.OP_PROCESS},
        )
        self.process_duration = meter.create_histogram(
            m.MESSAGING_PROCESS_DURATION,
            "s",
            "Duration of a command handler (decode, handler, reply encode); error.type when it raised.",
            explicit_bucket_boundaries_advisory=m.HANDLER_BUCKETS,
        )
        reading_gauge(
            meter, m.WORKER_ACTIVE, "{handler}", "Command handlers running now (at most `concurrency`).", self._active
        )
        reading_gauge(
            meter,
            m.WORKER_DEDUPE_SIZE,
            "{outcome}",
            "Stored outcomes kept to answer redeliveries (at most `dedupe_capacity`).",
            self._dedupe,
        )

    def _active(self) -> Iterable[tuple[float, dict[str, AttributeValue]]]:
        return [(s.active, {m.STEP_SERVICE: s.service}) for s in list(self.sources)]

    def _dedupe(self) -> Iterable[tuple[float, dict[str, AttributeValue]]]:
        return [(s.dedupe_size(), {m.STEP_SERVICE: s.service}) for s in list(self.sources)]


_instruments = PerProvider(
    lambda provider: _Shared(provider.get_meter(m.WORKER_METER, __version__), consumed_counter(provider))
)


class ServiceMetrics:
    """One service's recorder; with `provider=None` (metrics off) every method returns at once."""

    def __init__(
        self,
        provider: MeterProvider | None,
        *,
        service: str,
        command_topic: str,
        group: str,
        dedupe_size: Callable[[], int],
    ) -> None:
        self._shared = _instruments.get(provider) if provider is not None else None
        self.service = service
        self.dedupe_size = dedupe_size
        self.active = 0
        self._topic = command_topic
        self._group = group
        if self._shared is not None:
            self._shared.sources.add(self)

    def consumed(self, records: Sequence[InboundRecord]) -> None:
        """Records one poll delivered."""
        if self._shared is None:
            return
        add = self._shared.consumed.add
        for record in records:
            add((record.topic, str(record.partition), self._group))

    def started(self) -> None:
        """A handler starts running."""
        self.active += 1

    def handled(
        self, command_type: str, outcome: CommandOutcome, error_type: str | None = None, seconds: float | None = None
    ) -> None:
        """A command is answered (or skipped); `seconds` = the handler's duration when it ran."""
        if seconds is not None:
            self.active -= 1
        shared = self._shared
        if shared is None:
            return
        shared.commands.add((self.service, command_type or None, outcome.value, error_type))
        if seconds is not None:
            key = (self._topic, self._group, command_type or None, error_type)
            shared.process_duration.record(seconds, shared.process_keys.attributes(key))
