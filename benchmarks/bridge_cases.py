"""The bridge's figure: connector events/s and CPU per event, beside the raw EOS pipe.

`size.pipe_msgs` JSON domain events (an `OrderPlaced` of a choreographed shop, camelCase, with
CloudEvents headers) are produced up front; one connector runtime (orchestrator/bridge/runtime.py,
in this process like the ceiling's pipe) maps each through a start trigger (type match, a
correlation template, a CloudEvents message id, six JMESPath input fields), encodes the input and
a StartWorkflow record in Avro, and commits the inbox records with the source offsets in one
transaction per commit interval. Clock and CPU: first event consumed -> last one committed, so
both are the same span the raw EOS pipe is measured over.
"""

from __future__ import annotations

import json

from confluent_kafka import Producer

from benchmarks import records
from benchmarks.errors import BenchmarkError
from benchmarks.in_process import run_until
from benchmarks.model import CEILING, BenchContext, Measurement
from orchestrator.bridge.mapping import parse_connector_config
from orchestrator.bridge.runtime import ConnectorRuntime
from orchestrator.config import OrchestratorSettings


def _event(i: int) -> bytes:
    return json.dumps(
        {
            "eventType": "OrderPlaced",
            "orderId": f"o-{i}",
            "customer": {"id": records.key_of(i).decode()},
            "item": {"sku": f"sku-{i % 50}", "quantity": 1 + i % 3},
            "total": {"amountCents": 100 + i % 9_000, "currency": "EUR"},
        }
    ).encode()


def _produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer(records.producer_config(bootstrap))
    for i in range(count):
        headers: list[tuple[str, str | bytes | None]] = [
            ("ce_id", f"evt-{i}"),
            ("ce_type", "shop.OrderPlaced"),
            ("ce_source", "/shop/orders"),
        ]
        while True:
            try:
                producer.produce(topic, _event(i), records.key_of(i), headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    if producer.flush(120):
        raise BenchmarkError(f"could not fill {topic}")


def connector_throughput(ctx: BenchContext) -> list[Measurement]:
    count = ctx.size.pipe_msgs
    source = ctx.topic("bridge-orders")
    app = ctx.name("bridge")
    for suffix in ("inbox", "dlq"):
        ctx.admin.create(f"{app}.{suffix}", ctx.size.partitions, 1, {})
        ctx.created_topics.append(f"{app}.{suffix}")
    _produce(ctx.bootstrap, source, count)
    config = parse_connector_config(
        {
            "domain": "shop",
            "source": [{"topic": source, "format": "json", "event_type": "value.eventType"}],
            "trigger": [
                {
                    "name": "order-placed",
                    "topics": [source],
                    "event": "OrderPlaced",
                    "correlation": "order-{value.orderId}",
                    "message_id": "headers.ce_id",
                    "action": "start",
                    "workflow_type": "order-fulfilment",
                    "input_schema": "sagabridge.demo.orders.OrderPlaced",
                    "input": {
                        "order_id": "value.orderId",
                        "customer_id": "value.customer.id",
                        "sku": "value.item.sku",
                        "quantity": "value.item.quantity",
                        "amount_cents": "value.total.amountCents",
                        "currency": "value.total.currency",
                    },
                }
            ],
        },
        "bench",
    )
    settings = OrchestratorSettings(
        app=app, bootstrap_servers=ctx.bootstrap, commit_interval_ms=ctx.commit_interval_ms, instance_id="bench"
    )
    runtime = ConnectorRuntime(settings, config, stats_interval_s=3600)
    seconds, cpu = run_until(runtime, lambda: runtime.stats.events >= count, 300, "connector")
    stats = runtime.stats
    settings_out = {
        "messages": count,
        "partitions": ctx.size.partitions,
        "commit_interval_ms": ctx.commit_interval_ms,
        "transactions": runtime.commits,
        "matched": stats.matched,
        "dead_lettered": stats.dead_lettered,
        "event": f"JSON OrderPlaced ({len(_event(0))} B) + CloudEvents headers",
        "mapping": "type match, correlation template, ce_id message id, 6 JMESPath input fields",
        "inbox": "Avro single-object StartWorkflow (input record inside)",
    }
    return [
        Measurement(
            "bridge connector",
            "connector events",
            count / max(seconds, 1e-9),
            "events/s",
            settings=settings_out,
            compare_to=CEILING,
        ),
        Measurement(
            "bridge connector",
            "connector CPU per event",
            1000 * cpu / count,
            "CPU ms/event",
            settings={"messages": count, "cpu_s": round(cpu, 3)},
            note="this process (librdkafka threads included), beside the raw EOS pipe's CPU per message",
        ),
    ]
