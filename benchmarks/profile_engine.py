"""Profile the engine's hot path: the 3-step workload through an in-process Orchestrator under cProfile.

    python -m benchmarks.profile_engine [--workflows 3000] [--bootstrap HOST:PORT] [--out results/profile.md]
                                        [--pstats FILE]

N workflows are produced to a fresh app's inbox first, the three echo participants run as
separate processes, then `Orchestrator.run()` runs in the main thread under cProfile (its default
wall clock: a CPU clock per call would be a syscall each and triple the overhead) until a watcher
thread has seen N WorkflowCompleted events. So time in Kafka client calls includes waiting for
the broker (consume() waits out its timeout, commit_transaction a round trip); everything else is
the engine thread's Python work. librdkafka's own threads are not in the tables; their share is
the process CPU minus the main thread's. Tracing is off (no OTEL_* setup).
Writes the top functions by cumulative and by self time and a per-library summary to `--out`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import pstats
import resource
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmarks.model import SIZES, BenchContext
from benchmarks.orchestrator_app import registry
from benchmarks.orchestrator_procs import REPO, BenchApp, EventWatcher, serde, start_workflows
from benchmarks.workflow import STEPS_PER_WORKFLOW, WORKFLOW
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.runner import Orchestrator

log = logging.getLogger("benchmarks.profile")
TOP = 25
# (label, test on "file:line(function)") in order: the first match wins.
CATEGORIES: list[tuple[str, Callable[[str], bool]]] = [
    (
        "Kafka client calls on the engine thread (incl. waiting for the broker)",
        lambda f: "cimpl" in f or "confluent_kafka" in f,
    ),
    (
        "Avro encode/decode (fastavro + orchestrator/serialization)",
        lambda f: "fastavro" in f or "orchestrator/serialization" in f,
    ),
    (
        "write buffers of the state txn (orchestrator/state/pending_txn.py + write_buffer.py, pure Python)",
        lambda f: "orchestrator/state/pending_txn" in f or "orchestrator/state/write_buffer" in f,
    ),
    (
        "RocksDB (rocksdict + orchestrator/state)",
        lambda f: "rocksdict" in f or "Rdict" in f or "orchestrator/state" in f,
    ),
    (
        "workflow code + coroutine stepping (orchestrator/workflow, asyncio)",
        lambda f: "orchestrator/workflow" in f or "asyncio" in f or "benchmarks/workflow" in f,
    ),
    ("tracing (OpenTelemetry, orchestrator/tracing)", lambda f: "opentelemetry" in f or "orchestrator/tracing" in f),
    ("engine logic (orchestrator/engine)", lambda f: "orchestrator/engine" in f),
    ("transport glue (orchestrator/transport)", lambda f: "orchestrator/transport" in f),
    ("JSON (history data)", lambda f: "json" in f),
]


def _where(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    short = filename.replace(str(REPO) + "/", "").split("site-packages/")[-1]
    return f"{short}:{line}({name})" if filename != "~" else name


def _table(stats: pstats.Stats, sort: str) -> str:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    key = 3 if sort == "cumulative" else 2
    rows = sorted(raw.items(), key=lambda kv: kv[1][key], reverse=True)[:TOP]
    lines = ["| calls | self s | cumulative s | function |", "|---:|---:|---:|---|"]
    for func, (_cc, calls, tottime, cumtime, _callers) in rows:
        lines.append(f"| {calls:,} | {tottime:.3f} | {cumtime:.3f} | `{_where(func)}` |")
    return "\n".join(lines)


def _by_category(stats: pstats.Stats) -> list[tuple[str, float]]:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for func, (_cc, _calls, tottime, _cum, _callers) in raw.items():
        where = f"{func[0]}:{func[2]}"
        label = next((name for name, test in CATEGORIES if test(where)), "other (stdlib, builtins, the runner loop)")
        totals[label] = totals.get(label, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: kv[1], reverse=True)


def _calls(stats: pstats.Stats, file_part: str, name: str) -> int:
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    return sum(v[1] for f, v in raw.items() if file_part in f[0] + f[2] and f[2] == name)


def _observations(stats: pstats.Stats, steps: int, wall: float, thread_cpu: float) -> list[str]:
    """The summary's data-driven lines: per-step call counts and the costliest functions per call."""
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    per_step = {
        "Avro encodes": _calls(stats, "orchestrator/serialization/single_object.py", "encode"),
        "Kafka produce() calls": _calls(stats, "orchestrator/transport/producer.py", "produce"),
        "json.dumps": _calls(stats, "json/__init__.py", "dumps"),
        "RocksDB gets": _calls(stats, "Rdict", "<method 'get' of 'builtins.Rdict' objects>"),
    }
    counts = ", ".join(f"{n / steps:.1f} {what}" for what, n in per_step.items())
    heavy = sorted(((v[2] / v[1], f) for f, v in raw.items() if v[1] >= 1_000 and v[2] / v[1] > 50e-6), reverse=True)[
        :4
    ]
    busy = thread_cpu / wall
    verdict = (
        "the workload is CPU-bound on this one Python thread, not waiting on Kafka"
        if busy > 0.7
        else "a good part of the run is spent waiting (broker round trips, consume timeouts)"
    )
    lines = [
        f"- The engine thread is on CPU {100 * busy:.0f} % of the wall time: {verdict}.",
        f"- Per step (workflow start and finish amortized): {counts}; "
        f"{_calls(stats, 'state_records.py', 'encode_header') / steps:.1f} workflow-header encodes.",
    ]
    protocol = sum(v[3] for f, v in raw.items() if f[0].endswith("typing.py") and f[2] == "__instancecheck__")
    if protocol > 0.01 * thread_cpu:
        lines.append(
            f"- `isinstance` against runtime-checkable Protocols (typing's `__instancecheck__`): "
            f"{protocol:.2f} s ({100 * protocol / thread_cpu:.0f} % of the engine thread's CPU)."
        )
    if heavy:
        lines.append(
            "- Costliest per call (self time, >= 1,000 calls): "
            + "; ".join(f"`{_where(f)}` {1e6 * t:.0f} us" for t, f in heavy)
            + "."
        )
    return lines


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def profile(bootstrap: str, workflows: int, partitions: int, out: Path, pstats_out: Path | None = None) -> None:
    size = replace(SIZES["small"], name="profile", partitions=partitions, workflows=workflows)
    commit_interval_ms = int(OrchestratorSettings.model_fields["commit_interval_ms"].default)
    with tempfile.TemporaryDirectory(prefix="sagabridge-profile-") as work:
        ctx = BenchContext(bootstrap, size, Path(work), "prof" + uuid.uuid4().hex[:6], commit_interval_ms, log)
        try:
            app = BenchApp(ctx, partitions)
            start_workflows(app.client(), WORKFLOW, range(workflows), "wf")
            settings = OrchestratorSettings(
                app=app.name,
                bootstrap_servers=bootstrap,
                instance_id="profile",
                state_dir=app.state_dir("profile"),
                commit_interval_ms=commit_interval_ms,
                command_topic_template=f"{app.name}.{{service}}.commands",
            )
            orchestrator = Orchestrator(settings, registry, serde=serde)
            watcher = EventWatcher(app, ["WorkflowCompleted"])
            failure: list[BaseException] = []

            def stop_when_done() -> None:
                try:
                    watcher.wait_for("WorkflowCompleted", workflows, 120 + workflows / 20)
                except BaseException as exc:  # reported after the profile
                    failure.append(exc)
                finally:
                    orchestrator.stop()

            with app.echo_participants():
                thread = threading.Thread(target=stop_when_done, daemon=True)
                thread.start()
                profiler = cProfile.Profile()
                wall, cpu, thread_cpu = time.perf_counter(), _process_cpu(), time.thread_time()
                profiler.runcall(orchestrator.run)
                wall, cpu = time.perf_counter() - wall, _process_cpu() - cpu
                thread_cpu = time.thread_time() - thread_cpu
                thread.join(30)
            watcher.close()
            if failure:
                raise failure[0]
        finally:
            ctx.cleanup()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    out.write_text(_markdown(stats, workflows, partitions, wall, cpu, thread_cpu))
    if pstats_out is not None:
        stats.dump_stats(pstats_out)


def _markdown(stats: pstats.Stats, workflows: int, partitions: int, wall: float, cpu: float, thread_cpu: float) -> str:
    steps = STEPS_PER_WORKFLOW * workflows
    profiled = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    cats = _by_category(stats)
    summary = [f"- {label}: {seconds:.2f} s ({100 * seconds / profiled:.0f} %)" for label, seconds in cats]
    return "\n".join(
        [
            "# Engine hot-path profile",
            "",
            f"`python -m benchmarks.profile_engine --workflows {workflows}`: {workflows:,} 3-step workflows "
            f"({steps:,} steps) pre-loaded into a {partitions}-partition inbox, echo participants as separate "
            "processes, one in-process `Orchestrator` under cProfile (wall clock), tracing off. Startup "
            "(group join, empty restores) is included.",
            "",
            f"Wall {wall:.1f} s ({steps / wall:,.0f} steps/s under the profiler); process CPU {cpu:.1f} s, of which "
            f"the engine thread {thread_cpu:.1f} s and librdkafka's threads plus the watcher thread "
            f"{cpu - thread_cpu:.1f} s; {1000 * thread_cpu / steps:.2f} engine-thread CPU ms per step "
            "(profiler overhead included).",
            "",
            "## Where the engine thread's time goes (self time by library)",
            "",
            *summary,
            "",
            *_observations(stats, steps, wall, thread_cpu),
            "",
            f"## Top {TOP} by cumulative time",
            "",
            _table(stats, "cumulative"),
            "",
            f"## Top {TOP} by self time",
            "",
            _table(stats, "tottime"),
            "",
            "For the raw profile: `python -m benchmarks.profile_engine --pstats /tmp/engine.pstats`, then "
            "`python -m pstats /tmp/engine.pstats`.",
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bootstrap", default=os.environ.get("SAGABRIDGE_BENCH_BOOTSTRAP", "127.0.0.1:19092"))
    parser.add_argument("--workflows", type=int, default=3_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "profile.md")
    parser.add_argument("--pstats", type=Path, default=None, help="also write the raw cProfile data here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    profile(args.bootstrap, args.workflows, args.partitions, args.out, args.pstats)
    print(f"profile: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
