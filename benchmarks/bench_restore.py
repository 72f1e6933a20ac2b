"""Benchmark: restore speed of one partition store from its changelog (docs/design.md §6).

Writes N changelog records the way the orchestrator does (transactional, compacted topic, store
keys, some overwrites and tombstones), then restores them into a fresh RocksDB store several times
and reports records/s. Not a test: figures depend on the machine. Output: JSON + Markdown.

    .venv/bin/python benchmarks/bench_restore.py --bootstrap 127.0.0.1:19092 --records 100000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import confluent_kafka
from confluent_kafka import Producer

from orchestrator.state import PartitionStore
from orchestrator.transport.admin import KafkaAdmin
from orchestrator.transport.restore import ChangelogRestorer


def produce_changelog(bootstrap: str, topic: str, records: int, value_size: int, txn_size: int) -> float:
    """Shaped like real checkpoints: per workflow a header overwritten per step, history appended."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "transactional.id": f"bench-{topic}",
            "linger.ms": 5,
            "batch.size": 1_000_000,
            "compression.type": "lz4",
        }
    )
    producer.init_transactions(30)
    value = os.urandom(value_size)
    started = time.perf_counter()
    producer.begin_transaction()
    for i in range(records):
        wf, step = divmod(i, 10)
        if step in (0, 5):
            key, payload = f"w/wf-{wf:08d}".encode(), value  # header, rewritten as the workflow moves
        elif step == 9 and wf % 10 == 0:
            key, payload = f"s/wf-{wf:08d}/0000000001".encode(), None  # settled step state: tombstone
        else:
            key, payload = f"h/wf-{wf:08d}/{step:010d}".encode(), value
        while True:
            try:
                producer.produce(topic, key=key, value=payload, partition=0)
                break
            except BufferError:
                producer.poll(0.05)
        if (i + 1) % txn_size == 0:
            producer.commit_transaction(60)
            producer.begin_transaction()
    producer.commit_transaction(60)
    return time.perf_counter() - started


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run(args: argparse.Namespace) -> dict[str, Any]:
    topic = f"bench-restore-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdmin(args.bootstrap)
    admin.create(topic, 1, 1, {"cleanup.policy": "compact"})
    work = Path(tempfile.mkdtemp(prefix="sb-bench-restore-"))
    try:
        produce_s = produce_changelog(args.bootstrap, topic, args.records, args.value_size, args.txn_size)
        runs: list[dict[str, Any]] = []
        with ChangelogRestorer(args.bootstrap, topic) as restorer:
            for n in range(args.runs):
                path = work / f"run-{n}"
                with PartitionStore.open(path, 0) as store:
                    stats = restorer.restore(store, 0, batch_size=args.batch_size)
                    keys = sum(1 for _ in store.scan(b"", b"\xff"))
                runs.append(
                    {
                        "records": stats.records,
                        "seconds": round(stats.seconds, 4),
                        "records_per_s": round(stats.records_per_second),
                        "offsets": [stats.from_offset, stats.to_offset],
                        "keys_after_restore": keys,
                        "store_bytes": dir_size(path),
                    }
                )
                shutil.rmtree(path)
    finally:
        admin.delete([topic])
        shutil.rmtree(work, ignore_errors=True)
    rates: list[int] = [r["records_per_s"] for r in runs]
    return {
        "benchmark": "restore",
        "params": {k: getattr(args, k) for k in ("records", "value_size", "batch_size", "txn_size", "runs")},
        "produce_seconds": round(produce_s, 3),
        "runs": runs,
        "records_per_s_median": round(statistics.median(rates)),
        "records_per_s_first_run": rates[0],  # includes connecting and the first fetches
        "records_per_s_best": max(rates),
        "environment": {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "librdkafka": confluent_kafka.libversion()[0],
            "broker": "single local KRaft broker (same machine)",
        },
    }


def markdown(result: dict[str, Any]) -> str:
    p = result["params"]
    lines = [
        "# Restore benchmark",
        "",
        f"{p['records']} changelog records ({p['value_size']} B values, transactions of {p['txn_size']}), "
        f"restored into a fresh RocksDB store in batches of {p['batch_size']}.",
        "",
        "| run | records | seconds | records/s | keys after | store bytes |",
        "|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(result["runs"]):
        lines.append(
            f"| {i} | {r['records']} | {r['seconds']} | {r['records_per_s']} | "
            f"{r['keys_after_restore']} | {r['store_bytes']} |"
        )
    env = result["environment"]
    lines += [
        "",
        f"**Median: {result['records_per_s_median']} records/s** (best {result['records_per_s_best']}, "
        f"first run incl. connection setup {result['records_per_s_first_run']}).",
        "",
        f"Environment: Python {env['python']}, {env['cpus']} CPUs, librdkafka {env['librdkafka']}, "
        f"{env['broker']}, {env['platform']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bootstrap", default=os.environ.get("SAGABRIDGE_TEST_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--value-size", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--txn-size", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    result = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "restore.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "restore.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
