"""The registry of benchmark cases, in report order: ceiling, orchestrator, peers.

A case is `Case(name, group, run, description)`; `run(ctx)` returns Measurements. Throughput
figures set `compare_to=CEILING` so the report prints their ratio to the raw EOS pipe measured
on the same broker in the same run.
"""

from __future__ import annotations

from benchmarks.bridge_cases import connector_throughput
from benchmarks.ceiling import raw_consume, raw_eos_pipe, raw_produce
from benchmarks.handover import pause_after_sigkill, pause_when_instance_joins
from benchmarks.long_workflow import FIGURES as LONG_WORKFLOW_FIGURES
from benchmarks.long_workflow import long_workflow_case
from benchmarks.model import Case
from benchmarks.orchestrator_cases import (
    orchestrator_one_instance,
    orchestrator_two_instances,
    restore_and_rss,
    step_latency,
)
from benchmarks.peers.quix import quix_streams
from benchmarks.peers.temporal import temporal
from benchmarks.shadow_cases import shadow_ingest, shadow_report
from benchmarks.visibility_cases import visibility_ingest, visibility_latency

CEILING_CASES: list[Case] = [
    Case("raw produce", "ceiling", raw_produce, "confluent_kafka Producer, acks=all, idempotent, pre-encoded Avro"),
    Case("raw consume", "ceiling", raw_consume, "confluent_kafka Consumer, assign-only, read_committed"),
    Case(
        "raw EOS pipe",
        "ceiling",
        raw_eos_pipe,
        "consume -> Avro decode/encode -> produce, send_offsets + commit every commit interval",
    ),
]

# ==================================================================================================
# ORCHESTRATOR CASES: registered here by the engine's owner (issue 7, part 3).
#
# Each is a Case(name, "orchestrator", fn, description) whose fn(ctx: BenchContext) returns
# Measurements; use ctx.topic()/ctx.name() for topics and groups (deleted after the run),
# ctx.size.workflows / ctx.size.inflight_workflows for the load, ctx.commit_interval_ms for the
# engine's checkpoint interval, and benchmarks.echo_participant.start_echo_processes(...) /
# orchestrator.devstack.child_process.stop_all(...) for the three fast participants (one process
# per service, bare confluent_kafka, replies per docs/protocol.md). Set compare_to=CEILING on steps/s figures.
# Names the report already expects (listed as "pending" until a case measures them):
PLANNED_ORCHESTRATOR: list[tuple[str, str]] = [
    ("orchestrator steps, 1 instance", "steps/s"),
    ("orchestrator steps, 2 instances", "steps/s"),
    ("step latency p50 at half load", "ms"),
    ("step latency p99 at half load", "ms"),
    ("restore rate", "changelog records/s"),
    ("restore of 100k in-flight workflows", "s"),
    ("RSS with 100k in-flight idle workflows", "MiB"),
    ("RSS per idle workflow", "KiB"),
    ("CPU per step", "CPU ms/step"),
    ("CPU per step, 2 instances / 1 instance", "x"),
    ("partition pause after SIGKILL", "s"),
    ("partition pause when an instance joins", "s"),
    *((name, "x") for name in LONG_WORKFLOW_FIGURES),
]
ORCHESTRATOR_CASES: list[Case] = [
    Case(
        "orchestrator steps, 1 instance",
        "orchestrator",
        orchestrator_one_instance,
        "size.workflows 3-step workflows started up front, one `orchestrator run` process, 3 echo participant "
        "processes; steps/s from the first WorkflowStarted to the last WorkflowCompleted; CPU per step",
    ),
    Case(
        "orchestrator steps, 2 instances",
        "orchestrator",
        orchestrator_two_instances,
        "the same load on two orchestrator processes sharing the inbox partitions in one consumer group",
    ),
    Case(
        "step latency at half load",
        "orchestrator",
        step_latency,
        "workflows started at a steady rate of half the 1-instance steps/s; per-step latency = "
        "StepCompleted.at_ms - StepScheduled.at_ms (command emitted -> reply handled, checkpoint included)",
    ),
    Case(
        "restore and RSS",
        "orchestrator",
        restore_and_rss,
        "size.inflight_workflows workflows parked on a signal: orchestrator RSS, and RSS per workflow in KiB "
        "above the same process's RSS at 0 workflows, then SIGTERM, state dir deleted, restart: changelog "
        "restore records/s and seconds from the restarted process's RestoreStats",
    ),
    Case(
        "hand-over after SIGKILL",
        "orchestrator",
        pause_after_sigkill,
        "2 instances under a steady load (20 workflows/s), default group settings; one is SIGKILLed: the "
        "largest gap in lifecycle events on its partitions until the survivor has taken them over",
    ),
    Case(
        "hand-over when an instance joins",
        "orchestrator",
        pause_when_instance_joins,
        "1 instance under a steady load, a second one starts: the largest gap in lifecycle events on the "
        "partitions that move to it (cooperative-sticky: the others keep running)",
    ),
    Case(
        "long workflow",
        "orchestrator",
        long_workflow_case,
        "one workflow of size.long_workflow_steps sequential steps, in process over real RocksDB (no broker): "
        "engine CPU per step over steps 10-109 vs the last 100, continuing as new every 100 steps or never, "
        "cached or evicted before each measured step (which then replays); goal <= 1.5",
    ),
]
# ==================================================================================================

BRIDGE_CASES: list[Case] = [
    Case(
        "bridge connector",
        "bridge",
        connector_throughput,
        "size.pipe_msgs JSON domain events with CloudEvents headers through one connector runtime (start trigger, "
        "6 JMESPath fields, Avro inbox records), exactly-once into the inbox; first event -> last commit",
    ),
]

VISIBILITY_CASES: list[Case] = [
    Case(
        "visibility ingest",
        "visibility",
        visibility_ingest,
        "size.visibility_ingest_workflows synthetic workflows (~9 lifecycle events each) on an events topic: a bare "
        "read_committed consumer's rate, then the visibility Ingester into an empty SQLite and PostgreSQL store",
    ),
    Case(
        "visibility latency",
        "visibility",
        visibility_latency,
        "size.visibility_workflows workflows in SQLite and PostgreSQL: p50/p99 of list, filter, counts and detail "
        "(WorkflowQueries, the code behind the HTTP API), 200 calls each with random parameters",
    ),
]

SHADOW_CASES: list[Case] = [
    Case(
        "shadow ingest",
        "shadow",
        shadow_ingest,
        "size.shadow_cases generated shop orders (~4.2 JSON events each on 4 topics) observed by one shadow runtime: "
        "re-keyed by case, folded into RocksDB cases + changelog, exactly-once; beside a raw consume of the same log",
    ),
    Case(
        "shadow report",
        "shadow",
        shadow_report,
        "`shadow report` over size.shadow_report_cases cases from their changelog (restore, graph, variants, HTML, "
        "XES), and compare's cases/s on size.shadow_compare_cases of them",
    ),
]

PEER_CASES: list[Case] = [
    Case(
        "quix streams",
        "peer",
        quix_streams,
        "Quix Streams app: keyed state update per message, RocksDB + changelog, exactly-once",
    ),
    Case(
        "temporal", "peer", temporal, "Temporal CLI dev server + temporalio SDK: the same 3-step workflow, 3 activities"
    ),
]


def all_cases() -> list[Case]:
    return [*CEILING_CASES, *ORCHESTRATOR_CASES, *BRIDGE_CASES, *VISIBILITY_CASES, *SHADOW_CASES, *PEER_CASES]
