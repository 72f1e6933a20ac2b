"""Benchmark: Avro encode/decode records/s for a typical command, both framings vs raw fastavro.

The command is `sagabridge.demo.payments.ChargePayment`. Raw `fastavro.schemaless_writer/reader`
on the same parsed schema is the ceiling: the framings add a header, a dict lookup for the writer
schema and the bad-input checks. Also measured: decoding with reader-schema resolution (a v1
record read by a v2 reader) and the typed-model path (pydantic). Not a test: figures depend on the
machine. Output: JSON + Markdown (benchmarks/results/serde.{json,md}).

    .venv/bin/python benchmarks/bench_serde.py [--records 100000] [--registry-url URL]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import confluent_kafka
import fastavro

from examples.orders.models.payments import ChargePayment
from orchestrator.serialization import (
    ConfluentSerde,
    SchemaRepository,
    SingleObjectSerde,
    decode_model,
    encode_model,
)

COMMAND = "sagabridge.demo.payments.ChargePayment"
VALUE = {"order_id": "ord-000123456", "customer_id": "cust-98765", "amount_cents": 129_99, "currency": "EUR"}


def measure(cases: dict[str, Callable[[], Any]], records: int, runs: int) -> dict[str, dict[str, float]]:
    """Median and best records/s per case. Runs are interleaved (every case once per round) so
    background load on a shared machine skews all cases alike instead of one."""
    for fn in cases.values():  # warm-up: caches, resolution verdicts, registry ids
        for _ in range(min(records, 1000)):
            fn()
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, fn in cases.items():
            start = time.perf_counter()
            for _ in range(records):
                fn()
            rates[name].append(records / (time.perf_counter() - start))
    return {
        name: {"median_per_s": round(statistics.median(r)), "best_per_s": round(max(r))} for name, r in rates.items()
    }


def evolved_pair(repo: SchemaRepository, base: Path) -> tuple[SingleObjectSerde, bytes]:
    """A v1 writer and a v2 reader (one added field with a default) of a copy of the command."""
    v1 = json.loads(json.dumps(repo.definition(COMMAND)))
    v1["name"], v1["namespace"] = "ChargePayment", "bench"
    v2 = {**v1, "fields": [*v1["fields"], {"name": "note", "type": "string", "default": ""}]}
    root = base / "new"
    (root / "bench").mkdir(parents=True)
    (root / "bench" / "ChargePayment.v1.avsc").write_text(json.dumps(v1))
    (root / "bench" / "ChargePayment.avsc").write_text(json.dumps(v2))
    old_root = base / "old"
    (old_root / "bench").mkdir(parents=True)
    (old_root / "bench" / "ChargePayment.avsc").write_text(json.dumps(v1))
    writer = SingleObjectSerde(SchemaRepository(old_root, include_builtin=False))
    reader = SingleObjectSerde(SchemaRepository(root, include_builtin=False))
    return reader, writer.encode("bench.ChargePayment", VALUE)


def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    repo = SchemaRepository()
    parsed = repo.schema(COMMAND)
    raw = io.BytesIO()
    fastavro.schemaless_writer(raw, parsed, VALUE)
    raw_bytes = raw.getvalue()

    def raw_encode() -> bytes:
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, VALUE)
        return out.getvalue()

    cases: dict[str, Callable[[], Any]] = {
        "raw fastavro encode (ceiling)": raw_encode,
        "raw fastavro decode (ceiling)": lambda: fastavro.schemaless_reader(io.BytesIO(raw_bytes), parsed),
    }
    single = SingleObjectSerde(repo)
    single_bytes = single.encode(COMMAND, VALUE)
    cases["single-object encode"] = lambda: single.encode(COMMAND, VALUE)
    cases["single-object decode"] = lambda: single.decode(single_bytes)
    cases["single-object decode, reader given"] = lambda: single.decode(single_bytes, COMMAND)
    reader, v1_bytes = evolved_pair(repo, tmp)
    cases["single-object decode, v1 -> v2 resolution"] = lambda: reader.decode(v1_bytes, "bench.ChargePayment")
    model = ChargePayment.from_avro(VALUE)
    cases["single-object encode, typed model"] = lambda: encode_model(single, model)
    cases["single-object decode, typed model"] = lambda: decode_model(single, single_bytes, ChargePayment)

    confluent_note = ""
    if args.registry_url:
        try:
            confluent = ConfluentSerde(repo, args.registry_url)
            confluent_bytes = confluent.encode(COMMAND, VALUE)  # registers once; cached afterwards
            cases["confluent encode"] = lambda: confluent.encode(COMMAND, VALUE)
            cases["confluent decode"] = lambda: confluent.decode(confluent_bytes)
            cases["confluent decode, reader given"] = lambda: confluent.decode(confluent_bytes, COMMAND)
        except Exception as exc:
            confluent_note = f"confluent framing skipped: registry {args.registry_url} unavailable ({exc})"
    else:
        confluent_note = "confluent framing skipped: no --registry-url"

    results = measure(cases, args.records, args.runs)
    for name, figures in results.items():
        ceiling = results["raw fastavro encode (ceiling)" if "encode" in name else "raw fastavro decode (ceiling)"]
        figures["vs_ceiling"] = round(figures["best_per_s"] / ceiling["best_per_s"], 3)
    return {
        "command": COMMAND,
        "value": VALUE,
        "records_per_run": args.records,
        "runs": args.runs,
        "sizes_bytes": {
            "raw body": len(raw_bytes),
            "single-object": len(single_bytes),
            "confluent": len(raw_bytes) + 5,
        },
        "results": results,
        "note": confluent_note,
        "environment": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "fastavro": fastavro.__version__,
            "confluent_kafka": confluent_kafka.version(),
            "platform": platform.platform(),
        },
    }


def markdown(result: dict[str, Any]) -> str:
    sizes = ", ".join(f"{k} {v} B" for k, v in result["sizes_bytes"].items())
    lines = [
        "# Serialization benchmark",
        "",
        f"Typical command `{result['command']}` ({sizes}); {result['records_per_run']} calls per run, "
        f"{result['runs']} interleaved runs, one thread. The best run is the headline figure (least "
        f"disturbed by other processes on a shared machine); the median shows the spread.",
        "",
        "| case | best records/s | median records/s | best vs raw fastavro |",
        "|---|---|---|---|",
    ]
    for name, figures in result["results"].items():
        lines.append(f"| {name} | {figures['best_per_s']} | {figures['median_per_s']} | {figures['vs_ceiling']:.2f} |")
    if result["note"]:
        lines += ["", result["note"]]
    env = result["environment"]
    lines += [
        "",
        f"Environment: Python {env['python']}, {env['cpus']} CPUs, fastavro {env['fastavro']}, "
        f"confluent-kafka {env['confluent_kafka']}, {env['platform']}.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument(
        "--registry-url",
        default=os.environ.get("SAGABRIDGE_SCHEMA_REGISTRY_URL")
        or os.environ.get("SAGABRIDGE_TEST_REGISTRY_URL")
        or "http://127.0.0.1:18081/apis/ccompat/v7",
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serde-") as tmp:
        result = run(args, Path(tmp))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "serde.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "serde.md").write_text(markdown(result))
    sys.stdout.write(markdown(result))


if __name__ == "__main__":
    main()
