"""The orchestrator figures (issue 7, part 3): steps/s on 1 and 2 instances, CPU per step, step
latency at half load, restore rate and time, and RSS with many in-flight idle workflows.

Every orchestrator is a separate `orchestrator run --app benchmarks.orchestrator_app` process
(benchmarks/orchestrator_procs.py), so its RSS and CPU are its own; the three participants are
benchmarks.echo_participant processes. Times come from the engine's own lifecycle events
(`at_ms`, engine wall clock), read back read_committed from the app's events topic.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.errors import BenchmarkError
from benchmarks.model import CEILING, BenchContext, Measurement
from benchmarks.orchestrator_app import IDLE_WORKFLOW
from benchmarks.orchestrator_procs import BenchApp, EventWatcher, orchestrators, start_workflows
from benchmarks.workflow import STEPS_PER_WORKFLOW, WORKFLOW, order
from orchestrator.config import OrchestratorSettings

# The latency case runs at half the 1-instance throughput of the same run; without one (e.g.
# `--only "step latency at half load"`) it assumes this full-load rate instead.
FALLBACK_STEPS_PER_S = float(os.environ.get("SAGABRIDGE_BENCH_FULL_LOAD_STEPS_PER_S", "1000"))
LATENCY_RUN_S = 20.0  # at most this long at the steady rate (fewer workflows than size.workflows if needed)
WARMUP_FRACTION = 0.1  # the first 10 % of the latency run's workflows are not counted
BASELINE_SETTLE_S = 1.0  # after the group is ready: the 0-workflow RSS (and the restored one) settle
SETTLE_S = 3.0  # after the in-flight load (1 s below 10k): let the last checkpoint land before reading RSS
COMMIT_IDLE_MS = int(OrchestratorSettings.model_fields["commit_idle_ms"].default)  # the processes' default
CACHE_SIZE = int(OrchestratorSettings.model_fields["cache_size"].default)  # live runs kept by the process
_one_instance_steps_per_s: dict[str, float] = {}  # run id -> figure of the 1-instance case
_one_instance_cpu_ms_per_step: dict[str, float] = {}  # run id -> CPU per step of the 1-instance case


def _timeout(workflows: int) -> float:
    return 120 + workflows / 20


def _at_ms(watcher: EventWatcher, kind: str) -> list[int]:
    return [int(d.value["at_ms"]) for d in watcher.decoded(kind)]


def _throughput_run(ctx: BenchContext, instances: int) -> tuple[float, dict[str, Any], float]:
    """size.workflows 3-step workflows started up front; returns (steps/s, settings, CPU s of the orchestrators)."""
    n = ctx.size.workflows
    app = BenchApp(ctx, ctx.size.partitions)
    watcher = EventWatcher(app, ["WorkflowStarted", "WorkflowCompleted"])
    try:
        with app.echo_participants(), orchestrators(app, instances) as procs:
            cpu_before = sum(p.cpu_s() for p in procs)
            loaded = time.perf_counter()
            start_workflows(app.client(), WORKFLOW, range(n), "wf")
            load_s = time.perf_counter() - loaded
            watcher.wait_for("WorkflowCompleted", n, _timeout(n), procs)
            cpu = sum(p.cpu_s() for p in procs) - cpu_before
            rss = [round(p.rss_mib(), 1) for p in procs]
    finally:
        watcher.close()
    started, completed = _at_ms(watcher, "WorkflowStarted"), _at_ms(watcher, "WorkflowCompleted")
    # Engine time of the first start -> the last completion. (First -> last completion would be
    # wrong: a pre-loaded inbox moves through the engine in batches sharing one `at_ms`.)
    window_s = max((max(completed) - min(started)) / 1000, 1e-3)
    steps_per_s = STEPS_PER_WORKFLOW * n / window_s
    settings = {
        "workflows": n,
        "instances": instances,
        "partitions": ctx.size.partitions,
        "commit_interval_ms": ctx.commit_interval_ms,
        "participants": "3 echo processes",
        "first_start_to_last_completion_s": round(window_s, 2),
        "first_to_last_completion_s": round((max(completed) - min(completed)) / 1000, 2),
        "inbox_load_s": round(load_s, 2),
        "orchestrator_rss_mib": rss,
    }
    return steps_per_s, settings, cpu


def orchestrator_one_instance(ctx: BenchContext) -> list[Measurement]:
    steps_per_s, settings, cpu = _throughput_run(ctx, 1)
    _one_instance_steps_per_s[ctx.run_id] = steps_per_s
    steps = STEPS_PER_WORKFLOW * ctx.size.workflows
    _one_instance_cpu_ms_per_step[ctx.run_id] = 1000 * cpu / steps
    note = (
        "3 x N steps / (first WorkflowStarted.at_ms -> last WorkflowCompleted.at_ms); the N workflows are "
        "produced to the inbox right after the group is ready; tracing off"
    )
    return [
        Measurement(
            "orchestrator steps, 1 instance",
            "orchestrator steps, 1 instance",
            steps_per_s,
            "steps/s",
            settings=settings,
            note=note,
            compare_to=CEILING,
        ),
        Measurement(
            "orchestrator steps, 1 instance",
            "CPU per step",
            1000 * cpu / steps,
            "CPU ms/step",
            settings={"steps": steps, "cpu_s": round(cpu, 2)},
            note="the orchestrator process (/proc/<pid>/stat utime+stime, librdkafka threads included) "
            "from the inbox load to the last completion; participants and broker not counted",
        ),
    ]


def orchestrator_two_instances(ctx: BenchContext) -> list[Measurement]:
    steps_per_s, settings, cpu = _throughput_run(ctx, 2)
    settings["cpu_s_both"] = round(cpu, 2)
    steps = STEPS_PER_WORKFLOW * ctx.size.workflows
    cpu_ms_per_step = 1000 * cpu / steps
    note = "two processes in one group, distinct instance ids and state dirs; same clock as the 1-instance row"
    case = "orchestrator steps, 2 instances"
    measurements = [
        Measurement(case, case, steps_per_s, "steps/s", settings=settings, note=note, compare_to=CEILING),
        Measurement(
            case,
            "CPU per step, 2 instances",
            cpu_ms_per_step,
            "CPU ms/step",
            settings={"steps": steps, "cpu_s_both": round(cpu, 2)},
            note="both orchestrator processes together, measured as in the 1-instance row",
        ),
    ]
    one = _one_instance_cpu_ms_per_step.get(ctx.run_id)
    if one:  # only with the 1-instance case in the same run: a ratio across runs would mix machines' moods
        measurements.append(
            Measurement(
                case,
                "CPU per step, 2 instances / 1 instance",
                cpu_ms_per_step / one,
                "x",
                settings={
                    "one_instance_cpu_ms_per_step": round(one, 3),
                    "two_instances_cpu_ms_per_step": round(cpu_ms_per_step, 3),
                },
                note="what scaling out costs per step (goal <= 1.1): same workload, same run",
            )
        )
    return measurements


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def _paced_starts(app: BenchApp, n: int, rate_wps: float) -> float:
    """Start n workflows at a steady rate (in 2 ms ticks); returns the achieved rate."""
    client = app.client()
    began = time.perf_counter()
    sent = 0
    while sent < n:
        due = min(n, int((time.perf_counter() - began) * rate_wps) + 1)
        for i in range(sent, due):
            client.start(WORKFLOW, order(i), workflow_id=f"lat-{i}", flush=False)
        sent = due
        time.sleep(0.002)
    client.flush(60)
    return n / max(time.perf_counter() - began, 1e-9)


def step_latency(ctx: BenchContext) -> list[Measurement]:
    full = _one_instance_steps_per_s.get(ctx.run_id)
    source = "half the 1-instance figure of this run" if full else "half the fallback full-load rate"
    full = full or FALLBACK_STEPS_PER_S
    rate_wps = full / 2 / STEPS_PER_WORKFLOW
    n = max(20, min(ctx.size.workflows, int(rate_wps * LATENCY_RUN_S)))
    app = BenchApp(ctx, ctx.size.partitions)
    watcher = EventWatcher(app, ["StepScheduled", "StepCompleted"])
    try:
        with app.echo_participants(), orchestrators(app, 1) as procs:
            cpu_before = sum(p.cpu_s() for p in procs)
            achieved = _paced_starts(app, n, rate_wps)
            watcher.wait_for("StepCompleted", STEPS_PER_WORKFLOW * n, _timeout(n), procs)
            cpu = sum(p.cpu_s() for p in procs) - cpu_before
    finally:
        watcher.close()
    scheduled = {
        (d.value["workflow_id"], d.value["seq"]): int(d.value["at_ms"])
        for d in watcher.decoded("StepScheduled")
        if d.value["attempt"] == 1
    }
    counted = {f"lat-{i}" for i in range(int(n * WARMUP_FRACTION), n)}
    latencies = sorted(
        float(d.value["at_ms"]) - scheduled[(d.value["workflow_id"], d.value["seq"])]
        for d in watcher.decoded("StepCompleted")
        if d.value["workflow_id"] in counted
    )
    if not latencies:
        raise BenchmarkError("no step latencies measured")
    settings = {
        "workflows": n,
        "counted_steps": len(latencies),
        "rate_workflows_per_s": round(rate_wps, 1),
        "achieved_workflows_per_s": round(achieved, 1),
        "rate_steps_per_s": round(3 * rate_wps, 1),
        "rate_source": source,
        "commit_interval_ms": ctx.commit_interval_ms,
        "commit_idle_ms": COMMIT_IDLE_MS,
        "max_ms": latencies[-1],
        "mean_ms": round(sum(latencies) / len(latencies), 1),
        # What the commit schedule costs: at half load the loop may commit more often than at full load.
        "orchestrator_cpu_ms_per_step": round(1000 * cpu / (STEPS_PER_WORKFLOW * n), 3),
    }
    note = (
        "per step: StepCompleted.at_ms - StepScheduled.at_ms (engine clock, ms resolution): command emitted "
        "-> its checkpoint commits -> echo replies -> reply handled by the engine; first 10 % = warm-up"
    )
    name = "step latency at half load"
    return [
        Measurement(
            name, "step latency p50 at half load", _percentile(latencies, 0.50), "ms", settings=settings, note=note
        ),
        Measurement(
            name,
            "step latency p99 at half load",
            _percentile(latencies, 0.99),
            "ms",
            settings={"counted_steps": len(latencies)},
            note="same run as the p50 row",
        ),
    ]


def restore_and_rss(ctx: BenchContext) -> list[Measurement]:
    """N idle workflows (parked on a signal); RSS after the load above the RSS of the same process
    before it (0 workflows, partitions restored); SIGTERM, state dir deleted, restart."""
    n = ctx.size.inflight_workflows
    app = BenchApp(ctx, ctx.size.partitions)
    watcher = EventWatcher(app, ["WorkflowStarted"], keep_values=False)
    try:
        with orchestrators(app, 1, echo=False) as [proc]:
            time.sleep(BASELINE_SETTLE_S)
            baseline = proc.rss_mib()
            began = time.perf_counter()
            start_workflows(app.client(), IDLE_WORKFLOW, range(n), "idle")
            watcher.wait_for("WorkflowStarted", n, _timeout(n), [proc])
            load_s = time.perf_counter() - began
            time.sleep(SETTLE_S if n >= 10_000 else 1.0)
            rss = proc.rss_mib()
            status = json.loads(proc.liveness_file.read_text())  # what the process held at that reading
    finally:
        watcher.close()
    shutil.rmtree(app.state_dir(proc.instance_id))
    restarted = time.perf_counter()
    with orchestrators(app, 1, timeout_s=900, echo=False) as [again]:
        ready_s = time.perf_counter() - restarted
        lines = again.restores()
        time.sleep(BASELINE_SETTLE_S)
        rss_after = again.rss_mib()
    records, seconds = sum(r.records for r in lines), sum(r.seconds for r in lines)
    at_n = f"measured at {n:,} in-flight workflows" + ("" if n == 100_000 else " (not 100k: the run's size)")
    load = {"inflight_workflows": n, "partitions": ctx.size.partitions, "workflow": "start, then wait_signal"}
    restore_settings = {
        **load,
        "changelog_records": records,
        "restore_s": round(seconds, 2),
        "process_start_to_ready_s": round(ready_s, 2),
        "per_partition_s": [round(r.seconds, 2) for r in sorted(lines, key=lambda r: r.partition)],
    }
    how = "sum of the restarted orchestrator's per-partition RestoreStats (its log), state dir deleted first"
    return [
        Measurement(
            "restore and RSS",
            "restore rate",
            records / max(seconds, 1e-9),
            "changelog records/s",
            settings=restore_settings,
            note=how,
        ),
        Measurement(
            "restore and RSS",
            "restore of 100k in-flight workflows",
            seconds,
            "s",
            settings={"inflight_workflows": n, "changelog_records": records},
            note=f"{at_n}; {how}",
        ),
        Measurement(
            "restore and RSS",
            "RSS with 100k in-flight idle workflows",
            rss,
            "MiB",
            settings={
                **load,
                "load_s": round(load_s, 1),
                "cache_size": CACHE_SIZE,
                "rss_after_restore_mib": round(rss_after, 1),
            },
            note=f"{at_n}; VmRSS of the orchestrator process after the load, settled",
        ),
        Measurement(
            "restore and RSS",
            "RSS per idle workflow",
            (rss - baseline) * 1024 / n,
            "KiB",
            settings={
                "inflight_workflows": n,
                "baseline_rss_mib": round(baseline, 1),
                "rss_mib": round(rss, 1),
                "cached_runs": status.get("cached_runs"),
                "aborts": status.get("aborts"),
                "recoveries": status.get("producer_recoveries", 0) + status.get("consumer_replacements", 0),
                "after_restore_kib_per_workflow": round((rss_after - baseline) * 1024 / n, 2),
            },
            note="(VmRSS after the load - VmRSS of the same process before it, partitions restored and 0 "
            "workflows) / N; after_restore: the restarted process (nothing cached, state restored) over the "
            "same baseline",
        ),
    ]
