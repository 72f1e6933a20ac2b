"""`ctx.continue_as_new`: a run ends and the same id starts over in one turn, over real RocksDB.

The old run's history keys are deleted in that turn (the store holds one run), command seqs keep
counting (no command id repeats, so a late reply to an old step settles nothing), buffered signals
reach the next run, and a replay after an eviction, a restart or a restore from the changelog
rebuilds the current run only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.orders.models.inventory import ReleaseStock, ReserveStock, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderPlaced
from orchestrator.engine import keys
from orchestrator.state import PartitionStore
from orchestrator.state.pending_txn import PendingTxn
from orchestrator.testing import SentCommand, WorkflowEnvironment, WorkflowStatus
from orchestrator.workflow import WorkflowContext, WorkflowRegistry, workflow
from orchestrator.workflow.event_data import StartedData

registry = WorkflowRegistry()
STEPS_PER_RUN = 3
ORDER = OrderPlaced(order_id="o-1", customer_id="c-1", sku="sku-1", quantity=3, amount_cents=1, currency="EUR")
NOTE = CustomerNotified(order_id="o-1", customer_id="c-1", channel="sms", message="m")


def reserve(order: OrderPlaced) -> ReserveStock:
    return ReserveStock(order_id=order.order_id, sku=order.sku, quantity=order.quantity)


def one_less(order: OrderPlaced) -> OrderPlaced:
    return OrderPlaced(**{**order.to_avro(), "quantity": order.quantity - 1})


@workflow("countdown", registry=registry)
async def countdown(ctx: WorkflowContext, order: OrderPlaced) -> StockReserved:
    """STEPS_PER_RUN steps per run, then continue as new with one run fewer (`quantity` runs in all)."""
    ctx.set_query_handler("progress", lambda: {"run": ctx.info.run, "history_length": ctx.history_length})
    stock = None
    for _ in range(STEPS_PER_RUN):
        stock = await ctx.call("inventory", reserve(order), result=StockReserved)
    if order.quantity > 1:
        ctx.continue_as_new(one_less(order))
    assert stock is not None
    return stock


@workflow("mailbox", registry=registry)
async def mailbox(ctx: WorkflowContext, order: OrderPlaced) -> dict[str, Any]:
    """One step, then two signals per run (those sent during the step are buffered); `quantity` runs."""
    await ctx.call("inventory", reserve(order), result=StockReserved)
    got = [await ctx.wait_signal("note"), await ctx.wait_signal("note")]
    if order.quantity > 1:
        ctx.continue_as_new(one_less(order))
    return {"run": ctx.info.run, "last": [g["message"] if g else None for g in got]}


@workflow("until-suggested", registry=registry)
async def until_suggested(ctx: WorkflowContext, order: OrderPlaced) -> dict[str, Any]:
    """Steps until the engine suggests continuing as new; `quantity` runs."""
    while not ctx.continue_as_new_suggested:
        await ctx.call("inventory", reserve(order), result=StockReserved)
    if order.quantity > 1:
        ctx.continue_as_new(one_less(order))
    return {"run": ctx.info.run, "history_length": ctx.history_length}


@workflow("step-in-flight", registry=registry)
async def step_in_flight(ctx: WorkflowContext, order: OrderPlaced) -> None:
    ctx.call("inventory", reserve(order), result=StockReserved)  # not awaited: still in flight
    ctx.continue_as_new(order)


@workflow("inside-saga", registry=registry)
async def inside_saga(ctx: WorkflowContext, order: OrderPlaced) -> None:
    async with ctx.saga() as saga:
        stock = await ctx.call("inventory", reserve(order), result=StockReserved)
        saga.add_compensation("inventory", ReleaseStock(reservation_id=stock.reservation_id, order_id=order.order_id))
        ctx.continue_as_new(order)  # refused: ContinueAsNewRefusedError leaves the block, which compensates


class ChangelogTap:
    """Wraps the environment's RocksDB store: keeps every applied checkpoint's changelog records."""

    def __init__(self, store: PartitionStore) -> None:
        self.store = store
        self.records: list[tuple[bytes, bytes | None, int]] = []

    def begin(self) -> PendingTxn:
        return self.store.begin()

    def apply(self, txn: PendingTxn, changelog_offset: int | None) -> None:
        for record in txn.changelog_records("app.changelog", 0):
            self.records.append((record.key or b"", record.value, changelog_offset or 0))
        self.store.apply(txn, changelog_offset)

    def get(self, key: bytes) -> bytes | None:
        return self.store.get(key)

    def close(self) -> None:
        self.store.close()


def reserved(command: SentCommand) -> StockReserved:
    return StockReserved(reservation_id=f"r-{command.seq}", order_id="o-1")


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowEnvironment]:
    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path / "live", cache_size=100)
    env.service("inventory", reserved)
    try:
        yield env
    finally:
        env.close()


def history_keys(env: WorkflowEnvironment, workflow_id: str) -> list[bytes]:
    start, end = keys.history_range(workflow_id)
    return [key for key, _ in env.txn.scan(start, end)]


def test_a_run_continues_as_new_in_the_same_turn_and_only_the_last_run_is_stored(h: WorkflowEnvironment) -> None:
    run = h.start("countdown", ORDER, id="c-1")
    # Run 3's STARTED is history seq 14 (two runs of 7 events before it), and its command seqs
    # start there: its last step is seq 16.
    last_seq = 2 * (1 + 2 * STEPS_PER_RUN) + STEPS_PER_RUN - 1
    assert run.result() == StockReserved(reservation_id=f"r-{last_seq}", order_id="o-1")

    names = [e.name for e in h.events("c-1") if e.is_lifecycle and not e.name.startswith("Step")]
    assert names == ["WorkflowStarted", "WorkflowContinuedAsNew", "WorkflowContinuedAsNew", "WorkflowCompleted"]
    continued = [e.value for e in h.events("c-1", "WorkflowContinuedAsNew")]
    assert [(c["run"], c["previous_run_events"], c["carried_signals"]) for c in continued] == [
        (2, 1 + 2 * STEPS_PER_RUN, 0),
        (3, 1 + 2 * STEPS_PER_RUN, 0),
    ]
    assert OrderPlaced.from_avro(h.serde.decode(continued[1]["input"]).value).quantity == 1

    # The store holds the last run only: its STARTED continues the seqs, and nothing else is left.
    history = h.history("c-1")
    started = history[0].payload
    assert isinstance(started, StartedData) and started.run == 3
    assert history[0].seq == 2 * (1 + 2 * STEPS_PER_RUN)
    assert [e.seq for e in history] == list(range(history[0].seq, h.header("c-1").next_seq))
    assert len(history_keys(h, "c-1")) == len(history) == 2 + 2 * STEPS_PER_RUN
    assert h.open_steps("c-1") == []

    # Command ids never repeat across runs, so no reply of an earlier run can settle a later step.
    ids = [c.command_id for c in h.commands("c-1")]
    assert len(ids) == len(set(ids)) == 3 * STEPS_PER_RUN


def test_the_next_runs_first_command_is_in_the_turn_that_ended_the_last(tmp_path: Path) -> None:
    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path)  # no fake service: replies by hand
    try:
        run = env.start("countdown", OrderPlaced(**{**ORDER.to_avro(), "quantity": 2}), id="c-2")
        command = run.output.commands()[0]
        for _ in range(STEPS_PER_RUN - 1):
            command = env.reply(command, StockReserved(reservation_id="r", order_id="o-1")).commands()[0]
        turn = env.reply(command, StockReserved(reservation_id="r", order_id="o-1"))
        assert [n for n in turn.event_names() if n != "StepCompleted"] == ["WorkflowContinuedAsNew", "StepScheduled"]
        assert len(turn.commands()) == 1 and env.status("c-2") == WorkflowStatus.RUNNING
        # A late duplicate of the old run's last reply names a step the store no longer has.
        late = env.reply(command, StockReserved(reservation_id="r", order_id="o-1"))
        assert late.event_names() == ["ReplyIgnored"] and late.commands() == []
        assert len(env.open_steps("c-2")) == 1
    finally:
        env.close()


def outcome(env: WorkflowEnvironment, workflow_id: str) -> tuple[Any, list[str], list[str]]:
    result = env.run(workflow_id).result()
    return (
        result,
        [c.command_id for c in env.commands(workflow_id)],
        [e.name for e in env.events(workflow_id) if e.is_lifecycle],
    )


def test_replay_after_eviction_rebuilds_only_the_current_run(tmp_path: Path) -> None:
    cached = WorkflowEnvironment(registry, app="app", state_dir=tmp_path / "cached")
    evicted = WorkflowEnvironment(registry, app="app", state_dir=tmp_path / "evicted")  # replies by hand
    try:
        cached.service("inventory", reserved)
        cached.start("countdown", ORDER, id="c-1")
        evicted.start("countdown", ORDER, id="c-1")
        while not evicted.status("c-1").finished:  # every reply finds the run evicted
            evicted.evict("c-1")
            last = evicted.commands("c-1")[-1]
            evicted.reply(last, reserved(last))
        assert outcome(evicted, "c-1") == outcome(cached, "c-1")
        assert evicted.engine.stats.replays == 3 * STEPS_PER_RUN  # one per reply
        assert evicted.history("c-1") == cached.history("c-1")
    finally:
        cached.close()
        evicted.close()


def test_a_query_after_a_restart_sees_the_current_run(tmp_path: Path) -> None:
    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path)
    try:
        run = env.start("countdown", ORDER, id="c-3")
        command = run.output.commands()[0]
        for _ in range(STEPS_PER_RUN + 1):  # into run 2, its first step answered
            command = env.reply(command, StockReserved(reservation_id="r", order_id="o-1")).commands()[0]
        live = env.query("c-3", "progress")
        env.restart()
        assert env.query("c-3", "progress") == live == {"run": 2, "history_length": 3}
    finally:
        env.close()


def test_restore_from_the_changelog_drops_the_old_runs_and_carries_on(tmp_path: Path) -> None:
    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path / "live")
    tap = ChangelogTap(env.store)  # type: ignore[arg-type]
    env.store = tap
    env.txn = tap.begin()
    try:
        run = env.start("countdown", ORDER, id="c-4")
        command = run.output.commands()[0]
        for _ in range(2 * STEPS_PER_RUN + 1):  # into run 3, one step answered, one in flight
            command = env.reply(command, StockReserved(reservation_id="r", order_id="o-1")).commands()[0]
        live_state = dict(tap.store.scan(b"", b"\xff" * 8))

        restored = PartitionStore.open(tmp_path / "restored", 0)
        restored.apply_changelog(tap.records)  # the changelog in order: puts, then the tombstones
        assert dict(restored.scan(b"", b"\xff" * 8)) == live_state
        env.store.close()
        env.store = restored
        env.txn = restored.begin()
        env.engine = env._new_engine()

        third = one_less(one_less(ORDER)).to_avro()
        assert env.history("c-4")[0].payload == StartedData(
            "countdown", ORDER.avro_schema_name, third, {}, run=3, history_warn_events=10_000
        )
        command = env.reply(command, StockReserved(reservation_id="r", order_id="o-1")).commands()[0]
        env.reply(command, StockReserved(reservation_id="r-last", order_id="o-1"))
        assert env.status("c-4") == WorkflowStatus.COMPLETED
        assert env.engine.stats.replays == 1
    finally:
        env.close()


def test_buffered_signals_reach_the_next_run_in_order(tmp_path: Path) -> None:
    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path)  # steps answered by hand
    try:
        step = env.start("mailbox", ORDER, id="m-1").output.commands()[0]
        for i in range(5):  # all during run 1's step: buffered
            env.signal("m-1", "note", CustomerNotified(**{**NOTE.to_avro(), "message": f"n{i}"}))
        for _ in range(3):  # run 1 takes n0 n1, run 2 n2 n3, run 3 n4
            out = env.reply(step, StockReserved(reservation_id="r", order_id="o-1"))
            step = out.commands()[0] if out.commands() else step
        assert [e.value["carried_signals"] for e in env.events("m-1", "WorkflowContinuedAsNew")] == [3, 1]
        assert env.status("m-1") == WorkflowStatus.RUNNING  # run 3 waits for a sixth
        env.evict("m-1")  # the carried signal is in run 3's own history: a replay finds it
        env.signal("m-1", "note", CustomerNotified(**{**NOTE.to_avro(), "message": "n5"}))
        assert env.run("m-1").result() == {"run": 3, "last": ["n4", "n5"]}
    finally:
        env.close()


def test_the_suggestion_follows_the_history_and_the_warning_is_logged_once_per_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path / "s", history_warn_events=9)
    env.service("inventory", reserved)
    try:
        with caplog.at_level(logging.WARNING, logger="orchestrator.engine.executor"):
            result = env.start("until-suggested", OrderPlaced(**{**ORDER.to_avro(), "quantity": 2}), id="s-1").result()
        # STARTED + 4 steps (scheduled, completed) = 9 events: the fourth step's reply suggests it.
        assert result == {"run": 2, "history_length": 9}
        assert [e.value["previous_run_events"] for e in env.events("s-1", "WorkflowContinuedAsNew")] == [9]
        warnings = [r for r in caplog.records if "history_warn_events" in r.getMessage()]
        assert len(warnings) == 2 and env.engine.stats.history_warnings == 2
    finally:
        env.close()


def test_continue_as_new_with_a_step_in_flight_is_refused(h: WorkflowEnvironment) -> None:
    run = h.start("step-in-flight", ORDER, id="f-1")
    assert run.wait() == WorkflowStatus.FAILED
    (failed,) = h.events("f-1", "WorkflowFailed")
    assert failed.value["error"]["error_type"] == "ContinueAsNewRefused"
    assert "still in flight" in failed.value["error"]["message"]
    assert h.events("f-1", "WorkflowContinuedAsNew") == []


def test_continue_as_new_inside_a_saga_with_compensations_is_refused_and_compensates(h: WorkflowEnvironment) -> None:
    run = h.start("inside-saga", ORDER, id="g-1")
    assert run.wait() == WorkflowStatus.COMPENSATED
    assert [c.command_type.rsplit(".", 1)[-1] for c in h.commands("g-1")] == ["ReserveStock", "ReleaseStock"]
    assert h.events("g-1", "WorkflowContinuedAsNew") == []


def test_native_outcomes_settle_the_steps_of_every_run(tmp_path: Path) -> None:
    """A native participant's outcome names a service, not a step: it finds the current run's open step."""
    from tests.engine.test_correlation import outcome

    env = WorkflowEnvironment(registry, app="app", state_dir=tmp_path)
    try:
        env.start("countdown", ORDER, id="n-1")
        for i in range(3 * STEPS_PER_RUN):
            stock = StockReserved(reservation_id=f"native-{i}", order_id="o-1")
            out = outcome(env, "n-1", "inventory", success=True, result=stock, message_id=f"m-{i}")
            assert "ReplyIgnored" not in out.event_names(), i
        assert env.run("n-1").result() == StockReserved(
            reservation_id=f"native-{3 * STEPS_PER_RUN - 1}", order_id="o-1"
        )
        assert len(env.events("n-1", "WorkflowContinuedAsNew")) == 2
    finally:
        env.close()
