"""Benchmark: RSS per idle in-flight workflow, in this process, without a broker.

    python -m benchmarks.bench_idle_memory [--workflows 1000000] [--partitions 8]

The `restore and RSS` case measures a real `orchestrator run` process, but parking a million
workflows through the broker takes most of an hour on a loaded 2-core machine. This drives the
same engine the runner drives, over real RocksDB stores, wired as the runner wires them (one
`LiveRuns` of `cache_size` runs and one `StoreMemory` from the `[rocksdb]` defaults for every
partition), with `bench-idle` workflows (start, then wait for a signal that never comes), one
checkpoint per 1,000 inputs per partition. It prints the process's RSS before (stores open, 0
workflows) and after, the difference per workflow, and where it went: cached runs, memtables,
block cache. What it leaves out is what the real process adds: librdkafka's buffers and the
Kafka side of each start (those are in the baseline of the case, not per workflow).
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

from benchmarks.machine import rss_bytes
from benchmarks.orchestrator_app import IDLE_WORKFLOW, registry
from benchmarks.workflow import order
from orchestrator.config import OrchestratorSettings
from orchestrator.engine import EngineTopics, PartitionEngine
from orchestrator.engine.cache import LiveRuns
from orchestrator.models.control import StartWorkflow
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.state import PartitionStore, RocksDBSettings, StoreMemory
from orchestrator.transport.records import InboundRecord

INBOX = "bench.inbox"
CHECKPOINT_EVERY = 1_000  # inputs per partition
T0 = 1_700_000_000_000
MIB = 1024 * 1024


def run(
    workflows: int, partitions: int, directory: Path, cache_size: int, rocksdb: RocksDBSettings
) -> dict[str, float]:
    serde = SingleObjectSerde(SchemaRepository())
    topics = EngineTopics(inbox=INBOX, events="bench.events", dlq="bench.dlq")
    memory = StoreMemory(rocksdb)
    live = LiveRuns(cache_size)
    stores = [PartitionStore.open(directory / str(p), p, memory) for p in range(partitions)]
    engines = [
        PartitionEngine(topics=topics, registry=registry, serde=serde, partition=p, live_runs=live)
        for p in range(partitions)
    ]
    schema = order(0).avro_schema_name

    def record(i: int) -> InboundRecord:
        start = StartWorkflow(
            workflow_type=IDLE_WORKFLOW,
            workflow_id=f"idle-{i}",
            input_schema=schema,
            input=serde.encode(schema, order(i)),
            requested_at_ms=T0,
        )
        return InboundRecord(
            INBOX, i % partitions, i, start.workflow_id.encode(), serde.encode(start.avro_schema_name, start)
        )

    try:
        txns = [store.begin() for store in stores]
        offsets = [0] * partitions
        gc.collect()
        baseline = rss_bytes()
        began = time.process_time()
        for i in range(workflows):
            p = i % partitions
            engines[p].handle(record(i), txns[p], T0)
            if (i // partitions + 1) % CHECKPOINT_EVERY == 0 or i >= workflows - partitions:
                offsets[p] += 1
                stores[p].apply(txns[p], offsets[p])
                txns[p] = stores[p].begin()
                engines[p].mark_committed()
        cpu_s = time.process_time() - began
        gc.collect()
        time.sleep(1.0)  # RocksDB's background flushes settle
        after = rss_bytes()
        memtables = sum(store.memory_bytes()["memtables"] for store in stores)
        return {
            "workflows": workflows,
            "partitions": partitions,
            "cached_runs": len(live),
            "baseline_mib": baseline / MIB,
            "rss_mib": after / MIB,
            "kib_per_workflow": (after - baseline) / 1024 / workflows,
            "memtables_mib": memtables / MIB,
            "block_cache_mib": memory.block_cache_usage() / MIB,
            "cpu_s": cpu_s,
        }
    finally:
        for store in stores:
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1_000_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--cache-size", type=int, default=int(OrchestratorSettings.model_fields["cache_size"].default))
    parser.add_argument("--write-buffer-mib", type=int, default=RocksDBSettings().write_buffer_mib)
    parser.add_argument("--total-write-buffer-mib", type=int, default=RocksDBSettings().total_write_buffer_mib)
    args = parser.parse_args()
    rocksdb = RocksDBSettings(
        write_buffer_mib=args.write_buffer_mib, total_write_buffer_mib=args.total_write_buffer_mib
    )
    with tempfile.TemporaryDirectory(prefix="sagabridge-bench-idle-") as tmp:
        figures = run(args.workflows, args.partitions, Path(tmp), args.cache_size, rocksdb)
    print(
        f"RSS per idle workflow: {figures['kib_per_workflow']:.2f} KiB above a baseline of "
        f"{figures['baseline_mib']:.1f} MiB ({figures['workflows']:,} workflows on {figures['partitions']} partitions, "
        f"RSS {figures['rss_mib']:.1f} MiB; {figures['cached_runs']:,} cached runs, memtables "
        f"{figures['memtables_mib']:.1f} MiB, block cache {figures['block_cache_mib']:.1f} MiB; "
        f"{figures['cpu_s']:.0f} CPU s)"
    )


if __name__ == "__main__":
    main()
