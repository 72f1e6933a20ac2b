"""Benchmark: the engine core's CPU per workflow step, without a broker (no Kafka, no participants).

    python -m benchmarks.bench_engine_core [--workflows 2000] [--rounds 5] [--metrics]

The 3-step workflow of the orchestrator cases is driven through `PartitionEngine.handle` over a real
RocksDB `PartitionStore`, the way the runner does it: a `PendingTxn` per checkpoint of 100 inputs,
applied to RocksDB after each, and `next_due_ms` asked every PASS_EVERY inputs, as the runner asks
each partition once per poll pass. Participants are simulated by feeding a success reply for every
command the engine produced. What is left is exactly the Python work of the engine thread (decode,
history, replay-free activation, state records, outbox encoding), so refactors of the core can be
compared by one figure: CPU microseconds per step (process time, best of `--rounds`).

`--metrics` also runs every round with the engine's metrics recorder on (the one `orchestrator run`
installs with `metrics_port` set, docs/metrics.md) into a meter provider collected once per round
(a scrape), and prints both figures and their ratio: the cost of metrics on the engine thread.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from benchmarks.workflow import STEPS_PER_WORKFLOW, WORKFLOW, order, registry
from orchestrator.engine import EngineTopics, PartitionEngine
from orchestrator.metrics.lifecycle_metrics import LifecycleMetrics
from orchestrator.models.control import StartWorkflow
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.state import PartitionStore
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers

INBOX = "bench.inbox"
CHECKPOINT_EVERY = 100
PASS_EVERY = 10  # inputs per runner pass (a poll batch) at a moderate load
T0 = 1_700_000_000_000


def success_reply(command: OutboundRecord, offset: int, topic: str = INBOX) -> InboundRecord:
    """A participant's success reply on `topic` echoing the command (body: the command itself)."""
    echo = {name: command.header(name) or "" for name in (header_names.WORKFLOW_ID, header_names.COMMAND_ID)}
    headers = make_headers(
        {
            **echo,
            header_names.ATTEMPT: command.header(header_names.ATTEMPT) or "1",
            header_names.REPLY_STATUS: "success",
        }
    )
    return InboundRecord(topic, 0, offset, command.key, command.value, headers)


def run_once(workflows: int, directory: Path, metrics: bool = False) -> tuple[float, int]:
    """(CPU seconds, steps settled) for `workflows` runs of the 3-step workflow; `metrics`: with the
    lifecycle recorder on, and one collection of the meter provider at the end (counted)."""
    serde = SingleObjectSerde(SchemaRepository())
    topics = EngineTopics(inbox=INBOX, events="bench.events", dlq="bench.dlq")
    reader = InMemoryMetricReader()
    recorder = LifecycleMetrics(MeterProvider(metric_readers=[reader]).get_meter("bench")) if metrics else None
    engine = PartitionEngine(topics=topics, registry=registry, serde=serde, partition=0, recorder=recorder)
    starts = [
        StartWorkflow(
            workflow_type=WORKFLOW,
            workflow_id=f"wf-{i}",
            input_schema=order(i).avro_schema_name,
            input=serde.encode(order(i).avro_schema_name, order(i)),
            requested_at_ms=T0,
        )
        for i in range(workflows)
    ]
    pending = [
        InboundRecord(INBOX, 0, i, s.workflow_id.encode(), serde.encode(s.avro_schema_name, s))
        for i, s in enumerate(starts)
    ]
    with PartitionStore.open(directory, 0) as store:
        txn, inputs, offset, changelog_offset, steps = store.begin(), 0, len(pending), 0, 0
        started = time.process_time()
        while pending:
            record = pending.pop()
            for out in engine.handle(record, txn, T0):
                if out.header(header_names.COMMAND_ID) is not None:
                    offset += 1
                    pending.append(success_reply(out, offset))
                    steps += 1
            inputs += 1
            if inputs % PASS_EVERY == 0:
                engine.next_due_ms(txn)
            if inputs % CHECKPOINT_EVERY == 0 or not pending:
                changelog_offset += 1
                store.apply(txn, changelog_offset)
                txn = store.begin()
                engine.mark_committed()
        if metrics:
            reader.get_metrics_data()
        return time.process_time() - started, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--workflows", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--metrics", action="store_true", help="also measure with the metrics recorder on")
    args = parser.parse_args()
    variants = [False, True] if args.metrics else [False]
    best = dict.fromkeys(variants, float("inf"))
    steps = 0
    for round_no in range(args.rounds):
        for metrics in variants:  # interleaved, so both see the same machine load
            with tempfile.TemporaryDirectory(prefix="sagabridge-bench-core-") as tmp:
                cpu, steps = run_once(args.workflows, Path(tmp) / f"r{round_no}", metrics)
            assert steps == args.workflows * STEPS_PER_WORKFLOW, steps
            best[metrics] = min(best[metrics], cpu)
    off = best[False] / steps * 1e6
    print(f"engine core: {off:.1f} CPU us per step (best of {args.rounds}, {steps} steps per round)")
    if args.metrics:
        on = best[True] / steps * 1e6
        print(f"engine core, metrics on: {on:.1f} CPU us per step ({on / off:.3f}x, +{on - off:.1f} us)")


if __name__ == "__main__":
    main()
