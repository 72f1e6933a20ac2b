"""Temporal peer case (host side): dev server on loopback, a worker process, a driver process.

`temporal server start-dev` keeps its state in memory (SQLite in-memory): that flatters
Temporal against a durable Kafka broker, and the report says so.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from benchmarks.echo_participant import stop_processes
from benchmarks.errors import BenchmarkError
from benchmarks.machine import cpu_seconds
from benchmarks.model import CEILING, BenchContext, Measurement
from benchmarks.peers.temporal_build import (
    TEMPORAL_CLI_MODULE,
    TEMPORAL_CLI_VERSION,
    WHY_THIS_VERSION,
    cli_version,
    ensure_temporal_cli,
)
from benchmarks.peers.venv import REPO, ensure_peer_venv, peer_env, run_peer_app
from orchestrator.devstack.processes import free_port, port_open


def _start_server(binary: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    cmd = [
        str(binary),
        "server",
        "start-dev",
        "--headless",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--http-port",
        str(free_port()),
        "--metrics-port",
        str(free_port()),
        "--log-level",
        "error",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not port_open("127.0.0.1", port):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_processes([proc])
            raise BenchmarkError(f"temporal dev server did not listen on {port} (log: {log})")
        time.sleep(0.2)
    return proc


def temporal(ctx: BenchContext) -> list[Measurement]:
    binary = ensure_temporal_cli()
    python = ensure_peer_venv()
    port = free_port()
    address = f"127.0.0.1:{port}"
    task_queue = ctx.name("tq")
    log = ctx.workdir / "temporal.log"
    concurrency = 100
    server = _start_server(binary, port, log)
    procs: list[subprocess.Popen[bytes]] = [server]
    try:
        with log.open("ab") as out:
            worker = subprocess.Popen(
                [
                    str(python),
                    "-m",
                    "benchmarks.peers.temporal_app",
                    "worker",
                    "--address",
                    address,
                    "--task-queue",
                    task_queue,
                ],
                cwd=REPO,
                env=peer_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        procs.insert(0, worker)
        cpu_before = cpu_seconds(server.pid) + cpu_seconds(worker.pid)
        result = run_peer_app(
            python,
            "benchmarks.peers.temporal_app",
            [
                "drive",
                "--address",
                address,
                "--task-queue",
                task_queue,
                "--workflows",
                str(ctx.size.temporal_workflows),
                "--concurrency",
                str(concurrency),
                "--run-id",
                ctx.run_id,
            ],
            timeout_s=1200,
            log=log,
        )
        cpu = cpu_seconds(server.pid) + cpu_seconds(worker.pid) - cpu_before + float(result["driver_cpu_s"])
    finally:
        stop_processes(procs)
    built = f"go install {TEMPORAL_CLI_MODULE}/cmd/temporal@{TEMPORAL_CLI_VERSION} ({WHY_THIS_VERSION})"
    settings = {
        "workflows": result["workflows"],
        "steps_per_workflow": 3,
        "in_flight": concurrency,
        "server": f"{cli_version(binary)}, start-dev, in-memory SQLite, loopback",
        "built": built,
        "temporalio": result["temporalio"],
        "latency_p50_ms": round(float(result["latency_p50_ms"]), 1),
        "latency_p99_ms": round(float(result["latency_p99_ms"]), 1),
    }
    note = "in-memory dev server (no durable store), activities in one worker process"
    steps = 3 * (int(result["workflows"]) + int(result["warmup_workflows"]))
    return [
        Measurement(
            "temporal",
            "Temporal 3-step workflows",
            float(result["workflows_per_s"]),
            "workflows/s",
            settings=settings,
            note=note,
        ),
        Measurement(
            "temporal",
            "Temporal steps",
            float(result["steps_per_s"]),
            "steps/s",
            settings={"workflows": result["workflows"], "in_flight": concurrency},
            note="3 steps per workflow, same run as the row above",
            compare_to=CEILING,
        ),
        Measurement(
            "temporal",
            "Temporal CPU per step",
            1000 * cpu / steps,
            "CPU ms/step",
            settings={"steps": steps, "cpu_s": round(cpu, 2)},
            note="dev server + worker + driver processes, warm-up included",
        ),
    ]
