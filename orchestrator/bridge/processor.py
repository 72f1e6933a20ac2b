"""The connector's pure core: one source record in, inbox records (or one DLQ record) out.

No Kafka: the runtime (runtime.py) owns consumer and producer and hands records through here,
so every bad-input rule is testable without a broker. A record that cannot be decoded, misses a
mapped field, does not fit its target schema, or (on a `require_match` topic) matches nothing
becomes ONE DLQ record with the reason headers, and nothing else is produced for it: an event
takes effect completely or not at all. Only a schema registry outage escapes (transient: the
runtime aborts and retries rather than dead-letter a good record).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orchestrator.bridge.errors import InvalidFieldError, MappingError, UnmatchedEventError
from orchestrator.bridge.events import SourceEvent, decode_event
from orchestrator.bridge.inbox import InboxWriter
from orchestrator.bridge.mapping import ConnectorConfig, SourceTopic, ValueFormat
from orchestrator.bridge.matching import Matcher
from orchestrator.bridge.routing_hook import EventRouter
from orchestrator.errors import DecodeError, SchemaRegistryUnavailableError, SerializationError
from orchestrator.serialization import AvroSerde, SchemaRepository
from orchestrator.transport.dlq import dead_letter
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers

H_DLQ_FIELD_PATH = "sb-dlq-field-path"
H_DLQ_TRIGGER = "sb-dlq-trigger"
H_DLQ_DOMAIN = "sb-dlq-connector"


@dataclass
class ConnectorStats:
    """Counters of one connector; the runtime adds a transaction's counts only once it commits,
    so an aborted and re-processed batch is never counted twice."""

    events: int = 0
    matched: int = 0  # events with at least one effect
    effects: int = 0  # inbox records written (one event can start one workflow and signal another)
    filtered: int = 0  # events nothing matched (counted, not errors)
    dead_lettered: int = 0
    by_trigger: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)

    def add(self, other: ConnectorStats) -> None:
        """Fold in a committed transaction's counts."""
        self.events += other.events
        self.matched += other.matched
        self.effects += other.effects
        self.filtered += other.filtered
        self.dead_lettered += other.dead_lettered
        for name, n in other.by_trigger.items():
            self.by_trigger[name] = self.by_trigger.get(name, 0) + n
        for name, n in other.by_reason.items():
            self.by_reason[name] = self.by_reason.get(name, 0) + n

    def as_json(self) -> dict[str, object]:
        """The counters as `connectors run --stats` and the bench print them."""
        return {
            "events": self.events,
            "matched": self.matched,
            "effects": self.effects,
            "filtered": self.filtered,
            "dead_lettered": self.dead_lettered,
            "by_trigger": dict(self.by_trigger),
            "by_reason": dict(self.by_reason),
        }


class EventProcessor:
    """Maps source records of one domain onto inbox records."""

    def __init__(
        self,
        config: ConnectorConfig,
        repo: SchemaRepository,
        inbox_serde: AvroSerde,
        inbox_topic: str,
        dlq_topic: str,
        source_serdes: dict[ValueFormat, AvroSerde] | None = None,
        router: EventRouter | None = None,
    ) -> None:
        """`router`: cutover's routing hook (orchestrator/bridge/routing_hook.py); None: every effect applies."""
        self.config = config
        self.router = router
        self.matcher = Matcher(config, repo)
        self.writer = InboxWriter(inbox_serde, inbox_topic)
        self.dlq_topic = dlq_topic
        self._sources: dict[str, SourceTopic] = {s.topic: s for s in config.sources}
        self._serdes = dict(source_serdes or {})

    def process(self, record: InboundRecord, stats: ConnectorStats) -> list[OutboundRecord]:
        """The inbox records of one source record, or one DLQ record: bad input never raises.

        A record that fails to decode, misses a mapped field or matches nothing on a
        `require_match` topic is dead-lettered with the reason (and field path, trigger) in its
        headers, so the partition keeps moving. Only SchemaRegistryUnavailableError propagates:
        it is transient, and the runtime aborts the transaction and retries the batch.
        """
        stats.events += 1
        source = self._sources.get(record.topic)
        routed: list[OutboundRecord] | None = None  # what the router decided, once it has
        event: SourceEvent | None = None
        try:
            if source is None:  # subscribed topics are exactly the declared ones; a wiring bug
                raise UnmatchedEventError(f"topic {record.topic!r} is not declared in connector {self.config.domain!r}")
            event = decode_event(record, source, self._serdes.get(source.format))
            effects = self.matcher.match(event)
            matched = bool(effects)
            if self.router is not None:
                effects, routed = self.router.route(record, event, effects)
                if matched and not effects:  # the case is choreography's: not filtered, routed
                    return routed
            routed = routed or []
            if not effects:
                if source.require_match:
                    raise UnmatchedEventError(
                        f"no trigger or outcome matches this {event.event_type or 'untyped'} event "
                        f"and {record.topic} is declared require_match"
                    )
                stats.filtered += 1
                return routed
            try:
                out = [*routed, *(self.writer.record(effect, event) for effect in effects)]
            except SchemaRegistryUnavailableError:
                raise
            except SerializationError as exc:  # the mapped values do not fit the target schema
                raise InvalidFieldError(f"mapped record does not fit its schema: {exc}") from exc
        except SchemaRegistryUnavailableError:
            raise
        except DecodeError as exc:
            if routed is None and self.router is not None:  # unmappable: routed by its case, if it has one
                routed = self.router.route(record, event, [])[1]
            return [self._dead_letter(record, exc, stats), *(routed or [])]
        stats.matched += 1
        stats.effects += len(out) - len(routed or [])
        for effect in effects:
            stats.by_trigger[effect.trigger] = stats.by_trigger.get(effect.trigger, 0) + 1
        return out

    def _dead_letter(self, record: InboundRecord, exc: DecodeError, stats: ConnectorStats) -> OutboundRecord:
        stats.dead_lettered += 1
        stats.by_reason[exc.reason] = stats.by_reason.get(exc.reason, 0) + 1
        dlq = dead_letter(record, self.dlq_topic, exc)
        extra = [(H_DLQ_DOMAIN, self.config.domain)]
        if isinstance(exc, MappingError):
            if exc.field_path:
                extra.append((H_DLQ_FIELD_PATH, exc.field_path))
            if exc.trigger:
                extra.append((H_DLQ_TRIGGER, exc.trigger))
        return OutboundRecord(dlq.topic, dlq.key, dlq.value, dlq.headers + make_headers(extra))


__all__ = ["H_DLQ_FIELD_PATH", "H_DLQ_TRIGGER", "ConnectorStats", "EventProcessor"]
