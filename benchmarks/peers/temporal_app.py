"""Temporal peer app; runs in the peers' venv against `temporal server start-dev` on loopback.

The same 3-step workflow as the orchestrator case: three activities, each a fast echo, called one
after another. `worker` runs the worker until SIGTERM; `drive` starts N workflows with a bounded
number in flight, waits for every result and prints one JSON line with workflows/s and steps/s.
Workers and driver are separate processes, like the orchestrator and its echo services.
"""
# mypy: disable-error-code="import-not-found,misc,no-any-return,unused-ignore,untyped-decorator"

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import statistics
import time
from datetime import timedelta
from importlib.metadata import version

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

STEP_TIMEOUT = timedelta(seconds=30)
WARMUP = 10


@activity.defn
async def reserve(value: str) -> str:
    return value


@activity.defn
async def charge(value: str) -> str:
    return value


@activity.defn
async def ship(value: str) -> str:
    return value


@workflow.defn
class ThreeSteps:
    @workflow.run
    async def run(self, order_id: str) -> str:
        reserved = await workflow.execute_activity(reserve, order_id, start_to_close_timeout=STEP_TIMEOUT)
        charged = await workflow.execute_activity(charge, reserved, start_to_close_timeout=STEP_TIMEOUT)
        return await workflow.execute_activity(ship, charged, start_to_close_timeout=STEP_TIMEOUT)


async def run_worker(address: str, task_queue: str) -> None:
    client = await Client.connect(address)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Worker(client, task_queue=task_queue, workflows=[ThreeSteps], activities=[reserve, charge, ship]):
        print("ready", flush=True)
        await stop.wait()


async def drive(address: str, task_queue: str, workflows: int, concurrency: int, run_id: str) -> dict[str, object]:
    client = await Client.connect(address)
    for i in range(WARMUP):  # warm-up: worker caches, server task queues
        await client.execute_workflow(ThreeSteps.run, f"warm-{i}", id=f"{run_id}-warm-{i}", task_queue=task_queue)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(i: int) -> None:
        async with gate:
            started = time.perf_counter()
            await client.execute_workflow(ThreeSteps.run, f"order-{i}", id=f"{run_id}-{i}", task_queue=task_queue)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(workflows)))
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "workflows": workflows,
        "seconds": seconds,
        "workflows_per_s": workflows / seconds,
        "steps_per_s": 3 * workflows / seconds,
        "latency_p50_ms": 1000 * statistics.median(ordered),
        "latency_p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
        "concurrency": concurrency,
        "warmup_workflows": WARMUP,
        "driver_cpu_s": _own_cpu_seconds(),
        "temporalio": version("temporalio"),
    }


def _own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker", "drive"])
    parser.add_argument("--address", required=True)
    parser.add_argument("--task-queue", required=True)
    parser.add_argument("--workflows", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--run-id", default="bench")
    args = parser.parse_args()
    if args.role == "worker":
        asyncio.run(run_worker(args.address, args.task_queue))
    else:
        result = asyncio.run(drive(args.address, args.task_queue, args.workflows, args.concurrency, args.run_id))
        print(json.dumps(result))


if __name__ == "__main__":
    main()
