"""Benchmark: does a step of a long workflow cost more the longer the workflow has run?

    python -m benchmarks.long_workflow [--steps 10000] [--period 100] [--window 100]

One workflow does `--steps` sequential steps. Its engine CPU per step (process time of
`PartitionEngine.handle` for the step's reply plus that checkpoint's RocksDB write, in this
process, over a real RocksDB `PartitionStore`, no broker: what the engine thread spends) is
averaged over a window of `--window` steps starting at step 10 and over the window ending at the
last step; the figure is late / early. Four runs:

- continue_as_new every `--period` steps, or never (the contrast: one history of every step);
- the run cached between steps, or evicted before every step of both windows (what a small
  `cache_size` with other workflows on the partition, a restart or a rebalance does), so that
  step first rebuilds the run by replaying the history the store holds.

The window is one period long, so both windows see the same positions inside a run: with
continue_as_new the cost per step is periodic (a replay re-runs at most one period), and the mean
over a period is what a long workflow pays. Without it, an evicted step replays everything.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from examples.orders.models.inventory import ReserveStock
from examples.orders.models.orders import OrderPlaced
from orchestrator.engine import EngineTopics, PartitionEngine
from orchestrator.models.control import StartWorkflow
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.state import PartitionStore
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord, OutboundRecord, make_headers
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow

registry = WorkflowRegistry()
WORKFLOW = "bench-long"
SERVICE = "bench-long-steps"
INBOX = "bench-long.inbox"
EARLY_STEP = 10  # the early window starts here: past the first step's one-off costs
T0 = 1_700_000_000_000


@workflow(WORKFLOW, registry=registry)
async def long_workflow(ctx: WorkflowContext, order: OrderPlaced) -> None:
    """`order.quantity` steps left; continue as new every `order.amount_cents` steps (0: never)."""
    left, period = order.quantity, order.amount_cents
    for done in range(1, left + 1):
        await ctx.call(SERVICE, ReserveStock(order_id=order.order_id, sku=order.sku, quantity=left - done + 1))
        if period and done == period and done < left:
            ctx.continue_as_new(OrderPlaced(**{**order.to_avro(), "quantity": left - done}))


@dataclass(frozen=True)
class LongRun:
    """Mean engine CPU per step (microseconds) in the early and the late window of one run."""

    early_us: float
    late_us: float
    replays: int
    runs: int  # workflow runs (1 + continue_as_new count)
    history_events: int  # events in the store at the end (the last run's history)

    @property
    def ratio(self) -> float:
        return self.late_us / self.early_us


def _reply(command: OutboundRecord, offset: int) -> InboundRecord:
    headers = make_headers(
        {
            header_names.WORKFLOW_ID: command.header(header_names.WORKFLOW_ID) or "",
            header_names.COMMAND_ID: command.header(header_names.COMMAND_ID) or "",
            header_names.ATTEMPT: command.header(header_names.ATTEMPT) or "1",
            header_names.REPLY_STATUS: "success",
        }
    )
    return InboundRecord(INBOX, 0, offset, command.key, command.value, headers)  # echoes the command


def run_long(directory: Path, steps: int, period: int, window: int, evict: bool) -> LongRun:
    """Drive one long workflow to its end; see the module docstring for what is timed."""
    if steps < EARLY_STEP + 2 * window:
        raise ValueError(f"--steps must be at least {EARLY_STEP + 2 * window} for windows of {window}")
    serde = SingleObjectSerde(SchemaRepository())
    topics = EngineTopics(inbox=INBOX, events="bench-long.events", dlq="bench-long.dlq")
    engine = PartitionEngine(topics=topics, registry=registry, serde=serde, partition=0, cache_size=10_000)
    order = OrderPlaced(
        order_id="long-1", customer_id="c-1", sku="sku-1", quantity=steps, amount_cents=period, currency="EUR"
    )
    start = StartWorkflow(
        workflow_type=WORKFLOW,
        workflow_id="long-1",
        input_schema=order.avro_schema_name,
        input=serde.encode(order.avro_schema_name, order),
        requested_at_ms=T0,
    )
    early = range(EARLY_STEP, EARLY_STEP + window)
    late = range(steps - window + 1, steps + 1)
    cpu: dict[int, float] = {}
    with PartitionStore.open(directory, 0) as store:
        txn = store.begin()
        pending = engine.handle(InboundRecord(INBOX, 0, 0, b"long-1", serde.encode(start.avro_schema_name, start)), txn, T0)
        store.apply(txn, 1)
        engine.mark_committed()
        step = 0
        while True:
            command = next((r for r in pending if r.header(header_names.COMMAND_ID) is not None), None)
            if command is None:
                break
            step += 1
            measured = step in early or step in late
            if evict and measured:
                engine.discard(["long-1"])  # the next input finds the run evicted: it replays first
            began = time.process_time()
            txn = store.begin()
            pending = engine.handle(_reply(command, step), txn, T0 + step)
            store.apply(txn, step + 1)
            engine.mark_committed()
            if measured:
                cpu[step] = time.process_time() - began
        if step != steps:
            raise RuntimeError(f"the long workflow settled {step} steps, not {steps}")
        history = sum(1 for _ in store.scan(b"h/", b"h0"))
    return LongRun(
        early_us=sum(cpu[s] for s in early) / window * 1e6,
        late_us=sum(cpu[s] for s in late) / window * 1e6,
        replays=engine.stats.replays,
        runs=1 + engine.stats.continued_as_new,
        history_events=history,
    )


def measure(steps: int, period: int, window: int) -> dict[tuple[bool, bool], LongRun]:
    """{(continue_as_new, evicted): LongRun} for the four runs."""
    out: dict[tuple[bool, bool], LongRun] = {}
    for continues in (True, False):
        for evict in (False, True):
            with tempfile.TemporaryDirectory(prefix="sagabridge-bench-long-") as tmp:
                out[continues, evict] = run_long(Path(tmp), steps, period if continues else 0, window, evict)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--period", type=int, default=100, help="continue_as_new every this many steps")
    parser.add_argument("--window", type=int, default=None, help="steps per window (default: --period)")
    args = parser.parse_args()
    window = args.window or args.period
    for (continues, evict), r in measure(args.steps, args.period, window).items():
        label = f"continue_as_new every {args.period}" if continues else "never continue_as_new"
        cache = "evicted before each measured step" if evict else "cached"
        print(
            f"{label:28} {cache:34} step ~{EARLY_STEP}: {r.early_us:8.1f} us  step ~{args.steps}: "
            f"{r.late_us:10.1f} us  ratio {r.ratio:7.2f}  (runs {r.runs}, replays {r.replays}, "
            f"history left {r.history_events} events)"
        )


if __name__ == "__main__":
    main()
