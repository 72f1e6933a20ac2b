"""The raw-Kafka ceiling: what bare confluent_kafka does on the same broker in the same run.

Three figures: produce msgs/s, consume msgs/s, and the one every orchestrator and peer figure is
divided by, a transactional consume -> produce pipe that decodes and re-encodes each small Avro
record and commits (send_offsets_to_transaction + commit_transaction) on the engine's commit
interval, exactly like the orchestrator's checkpoint minus the state and the workflow code.
"""

from __future__ import annotations

import resource
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

from benchmarks import records
from benchmarks.errors import BenchmarkError
from benchmarks.model import CEILING, BenchContext, Measurement


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _consumer_config(ctx: BenchContext, group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": ctx.bootstrap,
        "group.id": group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.min.bytes": 1,
        "queued.max.messages.kbytes": 65_536,
    }


def raw_produce(ctx: BenchContext) -> list[Measurement]:
    topic = ctx.topic("produce")
    count = ctx.size.produce_msgs
    rate = records.produce_all(ctx.bootstrap, topic, count)
    settings = {
        "messages": count,
        "partitions": ctx.size.partitions,
        "acks": "all",
        "idempotence": True,
        "linger_ms": 5,
        "value_bytes": len(records.encode(records.record(0))),
    }
    return [Measurement("raw produce", "raw produce", rate, "msgs/s", settings=settings)]


def raw_consume(ctx: BenchContext) -> list[Measurement]:
    """Assign-only (no group join in the timing), read_committed, clock starts at the first record."""
    topic = ctx.topic("consume")
    count = ctx.size.consume_msgs
    records.produce_all(ctx.bootstrap, topic, count)
    consumer = Consumer(_consumer_config(ctx, ctx.name("consume")))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(ctx.size.partitions)])
    seen = 0
    started: float | None = None
    deadline = time.monotonic() + 120
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"raw consume: only {seen}/{count} records within 120 s")
            for msg in consumer.consume(1_000, 1.0):
                records.check(msg.error())
                if started is None:
                    started = time.perf_counter()
                seen += 1
        seconds = time.perf_counter() - (started or time.perf_counter())
    finally:
        consumer.close()
    settings = {"messages": count, "partitions": ctx.size.partitions, "isolation": "read_committed", "batch": 1_000}
    return [Measurement("raw consume", "raw consume", count / max(seconds, 1e-9), "msgs/s", settings=settings)]


class _Pipe:
    """consume -> decode -> change -> encode -> produce, committed as one transaction per interval."""

    def __init__(self, ctx: BenchContext, source: str, sink: str) -> None:
        self.sink = sink
        self.interval_s = ctx.commit_interval_ms / 1000
        self.consumer = Consumer(_consumer_config(ctx, ctx.name("pipe")))
        self.consumer.subscribe([source])
        self.producer = Producer(
            {**records.producer_config(ctx.bootstrap), "transactional.id": ctx.name("pipe-txn"), "linger.ms": 5}
        )
        self.producer.init_transactions(30)
        self.producer.begin_transaction()
        self.positions: dict[tuple[str, int], int] = {}
        self.transactions = 0

    def handle(self, msg: Any) -> None:
        value = records.decode(msg.value())
        value["amount_cents"] += 1
        payload = records.encode(value)
        while True:
            try:
                self.producer.produce(self.sink, payload, msg.key())
                break
            except BufferError:
                self.producer.poll(0.01)
        self.positions[(msg.topic(), msg.partition())] = msg.offset() + 1

    def commit(self) -> None:
        offsets = [TopicPartition(t, p, o) for (t, p), o in self.positions.items()]
        self.producer.send_offsets_to_transaction(offsets, self.consumer.consumer_group_metadata(), 30)
        self.producer.commit_transaction(30)
        self.transactions += 1
        self.producer.begin_transaction()

    def close(self) -> None:
        self.consumer.close()
        self.producer.flush(10)


def raw_eos_pipe(ctx: BenchContext) -> list[Measurement]:
    """The ceiling. Clock: first record consumed -> last transaction committed."""
    source, sink = ctx.topic("pipe-in"), ctx.topic("pipe-out")
    count = ctx.size.pipe_msgs
    records.produce_all(ctx.bootstrap, source, count)
    pipe = _Pipe(ctx, source, sink)
    done = 0
    started: float | None = None
    cpu_started = 0.0
    last_commit = time.perf_counter()
    deadline = time.monotonic() + 300
    try:
        while done < count:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"raw EOS pipe: only {done}/{count} records within 300 s")
            for msg in pipe.consumer.consume(500, 0.05):
                records.check(msg.error())
                if started is None:
                    started = last_commit = time.perf_counter()
                    cpu_started = _cpu()
                pipe.handle(msg)
                done += 1
            pipe.producer.poll(0)
            now = time.perf_counter()
            if pipe.positions and (now - last_commit >= pipe.interval_s or done >= count):
                pipe.commit()
                last_commit = now
        seconds = time.perf_counter() - (started or time.perf_counter())
        cpu = _cpu() - cpu_started
    except KafkaException as exc:
        raise BenchmarkError(f"raw EOS pipe failed: {exc}") from exc
    finally:
        pipe.close()
    settings = {
        "messages": count,
        "partitions": ctx.size.partitions,
        "commit_interval_ms": ctx.commit_interval_ms,
        "transactions": pipe.transactions,
        "isolation": "read_committed",
        "records": "fastavro schemaless decode + encode per message",
    }
    return [
        Measurement(
            "raw EOS pipe", CEILING, count / max(seconds, 1e-9), "msgs/s", settings=settings, compare_to=CEILING
        ),
        Measurement(
            "raw EOS pipe",
            "raw EOS pipe CPU per message",
            1000 * cpu / count,
            "CPU ms/msg",
            settings={"messages": count, "cpu_s": round(cpu, 3)},
            note="the pipe process (librdkafka threads included); the broker not counted",
        ),
    ]
