"""Quix Streams peer app; runs in the peers' venv, never imported by the product or the harness.

The same stateful pattern as the orchestrator's: per message a keyed state update in RocksDB
(backed by a changelog topic), an output record, processing_guarantee="exactly-once", committed
on the engine's commit interval. Prints one JSON line: processed, seconds, msgs_per_s.
Clock: first message processed -> `app.run` returned (which includes the final commit); the
process's CPU seconds over the same span.
"""
# mypy: disable-error-code="import-not-found,misc,no-any-return,unused-ignore"

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from importlib.metadata import version
from typing import Any

from quixstreams import Application, State
from quixstreams.models.serializers.avro import AvroDeserializer, AvroSerializer


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--commit-interval-ms", type=int, default=100)
    parser.add_argument("--schema", required=True, help="the Avro record schema as JSON")
    args = parser.parse_args()
    schema = json.loads(args.schema)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        commit_interval=args.commit_interval_ms / 1000,
        processing_guarantee="exactly-once",
        state_dir=args.state_dir,
        loglevel=logging.WARNING,
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer=AvroDeserializer(schema))
    sink = app.topic(args.output, key_serializer="bytes", value_serializer=AvroSerializer(schema))
    first: list[float] = []
    processed = [0]

    def update(value: dict[str, Any], state: State[str, int]) -> dict[str, Any]:
        if not first:
            first.append(time.perf_counter())
            first.append(_cpu())
        total = int(state.get("total", 0)) + int(value["amount_cents"])
        state.set("total", total)
        processed[0] += 1
        return {**value, "amount_cents": total}

    app.dataframe(source).apply(update, stateful=True).to_topic(sink)
    app.run(count=args.count, timeout=60.0, collect=False)
    seconds = time.perf_counter() - first[0] if first else 0.0
    cpu = _cpu() - first[1] if first else 0.0
    print(
        json.dumps(
            {
                "processed": processed[0],
                "seconds": seconds,
                "cpu_s": cpu,
                "msgs_per_s": processed[0] / seconds if seconds else 0.0,
                "quixstreams": version("quixstreams"),
            }
        )
    )


if __name__ == "__main__":
    main()
