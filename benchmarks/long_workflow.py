"""Benchmark: does a step of a long workflow cost more the longer the workflow has run?

    python -m benchmarks.long_workflow [--steps 10000] [--period 100] [--window 100]

Engine CPU per step: process time of `PartitionEngine.handle` for the step's reply plus that
checkpoint's RocksDB write, in this process, over a real RocksDB `PartitionStore`, no broker (what
the engine thread spends; the Kafka side of a step does not depend on the history). One workflow
runs `--steps` sequential steps; when it is `--window` steps from its end, a second one starts, and
from its step 10 on the two step in turn: the figure is the old one's mean over its last window /
the young one's over steps 10 .. 10 + window - 1, both measured under the same machine load.
Four runs:

- continue_as_new every `--period` steps, or never (the contrast: one history of every step);
- cached between steps (after one replay right before the window, unmeasured: a run rebuilt by a
  restart stays as cheap per step as a fresh one), or evicted before every measured step (what a
  small `cache_size` with other workflows on the partition, a restart or a rebalance does): that
  step first rebuilds the run by replaying the history the store holds.

The window is one period long, so both windows see the same positions inside a run: with
continue_as_new the cost per step is periodic (a replay re-runs at most one period), and its mean
over a period is what a long workflow pays. Without it, an evicted step replays everything.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.bench_engine_core import success_reply
from benchmarks.model import BenchContext, Measurement
from examples.orders.models.inventory import ReserveStock
from examples.orders.models.orders import OrderPlaced
from orchestrator.engine import EngineTopics, PartitionEngine, keys
from orchestrator.models.control import StartWorkflow
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.state import PartitionStore
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord, OutboundRecord
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
    runs: int  # continue_as_new count of both workflows
    history_events: int  # events the long one left in the store (its last run's history)

    @property
    def ratio(self) -> float:
        return self.late_us / self.early_us


class _Driver:
    """One engine over one RocksDB store; every input is its own checkpoint, timed with it."""

    def __init__(self, engine: PartitionEngine, store: PartitionStore, serde: SingleObjectSerde) -> None:
        self.engine, self.store, self.serde = engine, store, serde
        self.offset = 0

    def _input(self, record: InboundRecord) -> tuple[float, OutboundRecord | None]:
        """(CPU seconds of handle + checkpoint, the step command it produced, if any)."""
        began = time.process_time()
        txn = self.store.begin()
        out = self.engine.handle(record, txn, T0 + self.offset)
        self.store.apply(txn, self.offset)
        self.engine.mark_committed()
        spent = time.process_time() - began
        return spent, next((r for r in out if r.header(header_names.COMMAND_ID) is not None), None)

    def start(self, workflow_id: str, steps: int, period: int) -> OutboundRecord | None:
        self.offset += 1
        order = OrderPlaced(
            order_id=workflow_id, customer_id="c-1", sku="sku-1", quantity=steps, amount_cents=period, currency="EUR"
        )
        start = StartWorkflow(
            workflow_type=WORKFLOW,
            workflow_id=workflow_id,
            input_schema=order.avro_schema_name,
            input=self.serde.encode(order.avro_schema_name, order),
            requested_at_ms=T0,
        )
        value = self.serde.encode(start.avro_schema_name, start)
        return self._input(InboundRecord(INBOX, 0, self.offset, workflow_id.encode(), value))[1]

    def step(
        self, workflow_id: str, command: OutboundRecord | None, evict: bool
    ) -> tuple[float, OutboundRecord | None]:
        if command is None:
            raise RuntimeError(f"{workflow_id} ended before its last step")
        if evict:
            self.engine.discard([workflow_id])  # the reply finds the run evicted: it replays first
        self.offset += 1
        return self._input(success_reply(command, self.offset, INBOX))


def run_long(directory: Path, steps: int, period: int, window: int, evict: bool) -> LongRun:
    """Measure steps `steps - window + 1 .. steps` of one workflow against steps 10 .. 10 + window - 1
    of a second one started just then, one step of each in turn: both windows see the same machine
    load, whatever the other processes on it do. `period`: continue_as_new every that many (0: never)."""
    if steps < EARLY_STEP + 2 * window:
        raise ValueError(f"--steps must be at least {EARLY_STEP + 2 * window} for windows of {window}")
    serde = SingleObjectSerde(SchemaRepository())
    topics = EngineTopics(inbox=INBOX, events="bench-long.events", dlq="bench-long.dlq")
    engine = PartitionEngine(topics=topics, registry=registry, serde=serde, partition=0, cache_size=10_000)
    early: list[float] = []
    late: list[float] = []
    with PartitionStore.open(directory, 0) as store:
        driver = _Driver(engine, store, serde)
        # The step before each window replays (unmeasured): a cached window then shows what a run
        # costs per step in the cache after a restart or eviction rebuilt it, not only a fresh one.
        old = driver.start("long-old", steps, period)
        for done in range(1, steps - window + 1):
            old = driver.step("long-old", old, done == steps - window)[1]
        young = driver.start("long-young", steps, period)
        for done in range(1, EARLY_STEP):
            young = driver.step("long-young", young, done == EARLY_STEP - 1)[1]
        for _ in range(window):
            spent, old = driver.step("long-old", old, evict)
            late.append(spent)
            spent, young = driver.step("long-young", young, evict)
            early.append(spent)
        if old is not None:
            raise RuntimeError(f"the long workflow did not end after {steps} steps")
        start, end = keys.history_range("long-old")
        history = sum(1 for _ in store.scan(start, end))
    return LongRun(
        early_us=sum(early) / window * 1e6,
        late_us=sum(late) / window * 1e6,
        replays=engine.stats.replays,
        runs=engine.stats.continued_as_new,
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


def period_for(steps: int) -> int:
    """continue_as_new every this many steps in the harness case, and the windows' length: 100, or
    10 for the tiny size (`make test` runs it: a few seconds at most)."""
    return 100 if steps >= 1_000 else 10


def figure_name(continues: bool, evicted: bool) -> str:
    """The harness figure of one of the four runs (PLANNED_ORCHESTRATOR lists them)."""
    history = "continue_as_new" if continues else "one history"
    return f"long workflow, {history}: late / early step CPU, {'evicted' if evicted else 'cached'}"


FIGURES = [figure_name(continues, evicted) for continues in (True, False) for evicted in (False, True)]


def long_workflow_case(ctx: BenchContext) -> list[Measurement]:
    """The harness case: ctx.size.long_workflow_steps steps, the four runs, one ratio each."""
    steps = ctx.size.long_workflow_steps
    period = period_for(steps)
    out: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="sagabridge-bench-long-", dir=ctx.workdir) as tmp:
        for continues in (True, False):
            for evict in (False, True):
                r = run_long(Path(tmp) / f"{continues}-{evict}", steps, period if continues else 0, period, evict)
                out.append(
                    Measurement(
                        "long workflow",
                        figure_name(continues, evict),
                        round(r.ratio, 3),
                        "x",
                        settings={
                            "steps": steps,
                            "continue_as_new_every": period if continues else None,
                            "window_steps": period,
                            "early_cpu_us_per_step": round(r.early_us, 1),
                            "late_cpu_us_per_step": round(r.late_us, 1),
                            "runs": r.runs,
                            "replays": r.replays,
                            "history_events_left": r.history_events,
                        },
                        note=f"engine CPU per step (in process, real RocksDB, no broker): steps {steps - period + 1}-"
                        f"{steps} of one workflow / steps {EARLY_STEP}-{EARLY_STEP + period - 1} of one started then, "
                        "in turn; goal <= 1.5"
                        + ("; evicted before every measured step, which then replays" if evict else ""),
                    )
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--period", type=int, default=100, help="continue_as_new every this many steps (0: never)")
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
