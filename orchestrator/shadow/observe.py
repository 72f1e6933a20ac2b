"""Observe: one domain record in, the observations of its cases (or one DLQ record) out. Pure.

The case id is the mapping's correlation key (`Matcher.case_keys`: the workflow id the bridge
would use), so shadow's cases are exactly the workflows a cutover would create. An event no
trigger or outcome reads can still join its case through a `[[shadow.case]]` rule. Activity =
the event type (short name), time = the record timestamp, producer = the CloudEvents source.

An observation is keyed by its case id, so the observations topic is a repartition of the domain
topics by case: every event of a case reaches one partition of the case store, in order.
"""

from __future__ import annotations

from orchestrator.bridge.events import SourceEvent, decode_event
from orchestrator.bridge.mapping import ConnectorConfig, SourceTopic, ValueFormat
from orchestrator.bridge.matching import CaseKey, Matcher
from orchestrator.errors import DecodeError, MalformedRecordError, SchemaRegistryUnavailableError
from orchestrator.models.shadow import Observation, SourceHeader
from orchestrator.serialization import AvroSerde, SchemaRepository
from orchestrator.shadow.settings import CaseRule, ShadowSettings
from orchestrator.shadow.stats import ShadowStats
from orchestrator.transport.dlq import dead_letter
from orchestrator.transport.records import InboundRecord, OutboundRecord

UNTYPED = "(untyped)"


def activity_of(event: SourceEvent) -> str:
    """The event type's short name: what the graph calls an activity."""
    return UNTYPED if not event.event_type else event.event_type.rsplit(".", 1)[-1]


class Observer:
    """Turns domain records into observations keyed by case id (or DLQ records), counting what it does."""

    def __init__(
        self,
        config: ConnectorConfig,
        settings: ShadowSettings,
        repo: SchemaRepository,
        serde: AvroSerde,
        observations_topic: str,
        dlq_topic: str,
        source_serdes: dict[ValueFormat, AvroSerde] | None = None,
    ) -> None:
        self.matcher = Matcher(config, repo)
        self.rules = settings.cases
        self.serde = serde
        self.observations_topic = observations_topic
        self.dlq_topic = dlq_topic
        self._sources: dict[str, SourceTopic] = {s.topic: s for s in config.sources}
        self._serdes = dict(source_serdes or {})

    def observe(self, record: InboundRecord, stats: ShadowStats) -> list[OutboundRecord]:
        """The observations of one domain record (one per case it belongs to), or its DLQ record."""
        stats.events += 1
        try:
            source = self._sources.get(record.topic)
            if source is None:  # subscribed topics are exactly the declared ones: a wiring bug
                raise MalformedRecordError(f"topic {record.topic!r} is not declared under [[source]]")
            event = decode_event(record, source, self._serdes.get(source.format))
            keys = self.matcher.case_keys(event) or self._rule_keys(event)
        except SchemaRegistryUnavailableError:
            raise  # transient: the runtime aborts and retries
        except DecodeError as exc:
            stats.dead_lettered += 1
            stats.count(stats.by_reason, exc.reason)
            return [dead_letter(record, self.dlq_topic, exc)]
        if not keys:
            stats.filtered += 1
            return []
        activity = activity_of(event)
        out = []
        for case_id, matched in _by_case(keys).items():
            observation = Observation(
                case_id=case_id,
                activity=activity,
                timestamp_ms=record.timestamp_ms,
                source_topic=record.topic,
                source_partition=record.partition,
                source_offset=record.offset,
                message_id=_dedup_id(matched[0], event),
                producer=_producer(event),
                matched_by=[k.matched_by for k in matched],
                key=record.key,
                value=record.value,
                headers=[SourceHeader(name=k, value=v) for k, v in record.headers],
            )
            out.append(
                OutboundRecord(
                    topic=self.observations_topic,
                    key=case_id.encode(),
                    value=self.serde.encode(Observation.avro_schema_name, observation.to_avro()),
                )
            )
            stats.observed += 1
            stats.count(stats.by_activity, activity)
        return out

    def _rule_keys(self, event: SourceEvent) -> list[CaseKey]:
        keys = []
        for i, rule in enumerate(self.rules):
            if _rule_matches(rule, event):
                label = rule.name or f"shadow-case-{i}"
                message_id = (
                    event.position if rule.message_id is None else rule.message_id.render(event.context, "message_id")
                )
                keys.append(CaseKey(label, rule.correlation.render(event.context, "correlation"), message_id))
        return keys


def _rule_matches(rule: CaseRule, event: SourceEvent) -> bool:
    if event.record.topic not in rule.topics:
        return False
    if rule.event is not None and not event.matches_type(rule.event):
        return False
    return rule.when is None or rule.when.evaluate(event.context) not in (None, False, "", [], {})


def _by_case(keys: list[CaseKey]) -> dict[str, list[CaseKey]]:
    """One observation per case, however many triggers and outcomes of that case matched."""
    grouped: dict[str, list[CaseKey]] = {}
    for key in keys:
        grouped.setdefault(key.workflow_id, []).append(key)
    return grouped


def _dedup_id(key: CaseKey, event: SourceEvent) -> str:
    """The mapping's message id when it names one; else the CloudEvents id, which a re-published
    event keeps (the default `topic:partition:offset` would make every re-publication new)."""
    ce_id = event.cloudevent.get("id")
    if key.message_id == event.position and isinstance(ce_id, str) and ce_id:
        return f"ce:{ce_id}"
    return key.message_id


def _producer(event: SourceEvent) -> str | None:
    source = event.cloudevent.get("source")
    return source if isinstance(source, str) and source else None


__all__ = ["UNTYPED", "Observer", "activity_of"]
