"""Kafka spans with the current messaging semantic conventions.

Kinds and names follow semconv: `send <topic>` is PRODUCER (its context is what gets injected
into the record's headers), `process <topic>` is CONSUMER and, for one record, a child of the
producer's context; `poll <topic>` (receive) is CLIENT and only links. A consumer that already
has a parent of its own (the orchestrator continuing a workflow's stored trace) passes `parent=`
and the record's producer context becomes a link instead, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from orchestrator.tracing import active_tracer
from orchestrator.tracing import attributes as attr
from orchestrator.tracing.propagation import HeaderPairs, Source, extract_context, span_context_of
from orchestrator.tracing.span_primitives import NOOP_SCOPE, Attributes, NoopScope, SpanScope, child_span


def _key_text(key: bytes | str | None) -> str | None:
    """Semconv: string form of the key; omit null keys and keys without a canonical text form."""
    if key is None or isinstance(key, str):
        return key
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return None


def kafka_attributes(
    topic: str,
    operation_type: str,
    operation_name: str,
    *,
    key: bytes | str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    group: str | None = None,
    client_id: str | None = None,
    message_id: str | None = None,
    body_size: int | None = None,
    tombstone: bool = False,
    extra: Attributes | None = None,
) -> dict[str, AttributeValue]:
    """The semconv attribute set of one Kafka operation (absent values are left out, as required)."""
    out: dict[str, AttributeValue] = {
        attr.MESSAGING_SYSTEM: attr.SYSTEM_KAFKA,
        attr.MESSAGING_DESTINATION_NAME: topic,
        attr.MESSAGING_OPERATION_TYPE: operation_type,
        attr.MESSAGING_OPERATION_NAME: operation_name,
    }
    key_text = _key_text(key)
    if key_text is not None:
        out[attr.MESSAGING_KAFKA_MESSAGE_KEY] = key_text
    if partition is not None and partition >= 0:
        out[attr.MESSAGING_DESTINATION_PARTITION_ID] = str(partition)
    if offset is not None and offset >= 0:
        out[attr.MESSAGING_KAFKA_OFFSET] = offset
    if group:
        out[attr.MESSAGING_CONSUMER_GROUP_NAME] = group
    if client_id:
        out[attr.MESSAGING_CLIENT_ID] = client_id
    if message_id:
        out[attr.MESSAGING_MESSAGE_ID] = message_id
    if body_size is not None:
        out[attr.MESSAGING_MESSAGE_BODY_SIZE] = body_size
    if tombstone:
        out[attr.MESSAGING_KAFKA_MESSAGE_TOMBSTONE] = True
    if extra:
        out.update(extra)
    return out


def producer_span(
    topic: str,
    *,
    key: bytes | str | None = None,
    partition: int | None = None,
    parent: Source = None,
    message_id: str | None = None,
    client_id: str | None = None,
    body_size: int | None = None,
    tombstone: bool = False,
    attributes: Attributes | None = None,
    name: str | None = None,
    start_ns: int | None = None,
) -> SpanScope | NoopScope:
    """`with producer_span(topic, key=k) as span: headers += inject_headers(span); produce(...)`."""
    if active_tracer.active() is None:
        return NOOP_SCOPE
    attrs = kafka_attributes(
        topic,
        attr.OP_SEND,
        "send",
        key=key,
        partition=partition,
        client_id=client_id,
        message_id=message_id,
        body_size=body_size,
        tombstone=tombstone,
        extra=attributes,
    )
    return child_span(
        name or f"send {topic}", parent=parent, kind=SpanKind.PRODUCER, attributes=attrs, start_ns=start_ns
    )


def process_span(
    topic: str,
    *,
    headers: HeaderPairs | None = None,
    parent: Source = None,
    group: str | None = None,
    key: bytes | str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    message_id: str | None = None,
    client_id: str | None = None,
    body_size: int | None = None,
    attributes: Attributes | None = None,
    links: Iterable[Source] = (),
    name: str | None = None,
) -> SpanScope | NoopScope:
    """Processing one consumed record: a child of the producer's context found in `headers`.

    With `parent` given, the span is parented there and the producer's context is linked.
    """
    if active_tracer.active() is None:
        return NOOP_SCOPE
    creation = extract_context(headers)
    all_links = list(links)
    if parent is None:
        parent = creation  # an empty context (no/invalid traceparent) makes this a new root
    elif span_context_of(creation) is not None:
        all_links.append(creation)
    attrs = kafka_attributes(
        topic,
        attr.OP_PROCESS,
        "process",
        key=key,
        partition=partition,
        offset=offset,
        group=group,
        client_id=client_id,
        message_id=message_id,
        body_size=body_size,
        extra=attributes,
    )
    return child_span(
        name or f"process {topic}", parent=parent, kind=SpanKind.CONSUMER, attributes=attrs, links=all_links
    )


consumer_span = process_span
"""Alias: the brief's name for the per-record consumer span."""


def receive_span(
    topic: str,
    *,
    group: str | None = None,
    count: int | None = None,
    links: Iterable[Source] = (),
    client_id: str | None = None,
    attributes: Attributes | None = None,
) -> SpanScope | NoopScope:
    """One poll returning a batch: CLIENT kind, links to the records' producers (no parent)."""
    if active_tracer.active() is None:
        return NOOP_SCOPE
    extra: dict[str, AttributeValue] = dict(attributes or {})
    if count is not None:
        extra[attr.MESSAGING_BATCH_MESSAGE_COUNT] = count
    attrs = kafka_attributes(topic, attr.OP_RECEIVE, "poll", group=group, client_id=client_id, extra=extra)
    return child_span(f"poll {topic}", kind=SpanKind.CLIENT, attributes=attrs, links=links)
