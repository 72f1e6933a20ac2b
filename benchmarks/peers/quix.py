"""Quix Streams peer case (host side): fill the input, run quix_app in the peers' venv, clean up."""

from __future__ import annotations

import json

from benchmarks import records
from benchmarks.model import CEILING, BenchContext, Measurement
from benchmarks.peers.venv import ensure_peer_venv, run_peer_app


def quix_streams(ctx: BenchContext) -> list[Measurement]:
    python = ensure_peer_venv()
    source, sink = ctx.topic("quix-in"), ctx.topic("quix-out")
    count = ctx.size.quix_msgs
    records.produce_all(ctx.bootstrap, source, count)
    group = ctx.name("quix")
    state_dir = ctx.workdir / "quix-state"
    try:
        result = run_peer_app(
            python,
            "benchmarks.peers.quix_app",
            [
                "--bootstrap",
                ctx.bootstrap,
                "--input",
                source,
                "--output",
                sink,
                "--group",
                group,
                "--count",
                str(count),
                "--state-dir",
                str(state_dir),
                "--commit-interval-ms",
                str(ctx.commit_interval_ms),
                "--schema",
                json.dumps(records.SCHEMA),
            ],
            timeout_s=900,
            log=ctx.workdir / "quix.log",
        )
    finally:
        # Quix creates its changelog topic itself (changelog__<group>--<topic>--<store>); drop it too.
        ctx.adopt_topics(group)
    settings = {
        "messages": count,
        "partitions": ctx.size.partitions,
        "processing_guarantee": "exactly-once",
        "commit_interval_ms": ctx.commit_interval_ms,
        "state": "RocksDB + changelog, one key per entity",
        "records": "Avro (quixstreams AvroDeserializer/AvroSerializer, fastavro schemaless)",
        "quixstreams": result.get("quixstreams"),
    }
    processed = max(int(result["processed"]), 1)
    return [
        Measurement(
            "quix streams",
            "Quix Streams stateful EOS",
            float(result["msgs_per_s"]),
            "msgs/s",
            settings=settings,
            compare_to=CEILING,
        ),
        Measurement(
            "quix streams",
            "Quix Streams CPU per message",
            1000 * float(result["cpu_s"]) / processed,
            "CPU ms/msg",
            settings={"messages": processed, "cpu_s": round(float(result["cpu_s"]), 2)},
            note="the app process (librdkafka threads included); the broker not counted",
        ),
    ]
