"""The visibility store projects the engine's real events, on SQLite and on a real PostgreSQL.

The engine (tests/engine/harness.py: a PartitionEngine over a real RocksDB) produces the events;
they are decoded exactly as the ingester decodes records read from Kafka and applied in batches.
"""

from __future__ import annotations

import json
from pathlib import Path

from examples.orders.models.inventory import StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderPlaced
from orchestrator.testing import WorkflowEnvironment
from orchestrator.testing.environment import DEFAULT_START_MS as T0
from orchestrator.transport import header_names
from orchestrator.transport.records import OutboundRecord
from orchestrator.visibility import tables
from orchestrator.visibility.projection import WorkflowState
from orchestrator.visibility.queries import WorkflowFilter, WorkflowQueries
from orchestrator.visibility.status import EntryKind, StepStatus
from orchestrator.visibility.store import VisibilityStore
from orchestrator.workflow.status import WorkflowStatus
from tests.engine.test_continue_as_new import STEPS_PER_RUN
from tests.engine.test_continue_as_new import registry as continuing
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import ORDER, VARIANT
from tests.visibility.feed import TOPIC, EventsTopic, apply, sync

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}


def row(store: VisibilityStore, workflow_id: str) -> WorkflowState:
    found = WorkflowQueries(store).get(workflow_id)
    assert found is not None, workflow_id
    return found


def kinds(store: VisibilityStore, workflow_id: str) -> list[str]:
    detail = WorkflowQueries(store).detail(workflow_id)
    assert detail is not None
    return [e.kind for e in detail[1]]


def dump(store: VisibilityStore) -> dict[str, list[tuple[object, ...]]]:
    """Every table's content (minus bookkeeping), for comparing two stores."""
    out = {}
    with store.read() as conn:
        for table in (tables.workflows, tables.timeline, tables.search_attributes, tables.status_counts):
            rows = conn.execute(table.select()).all()
            out[table.name] = sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in r) for r in rows)
    return out


def test_a_saga_becomes_one_row_and_a_timeline(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    reserve = only(h.start("order", ORDER, id="o-1", trace_context=TRACE).output.commands())
    sync(store, topic)
    r = row(store, "o-1")
    assert (r.workflow_type, r.status, r.started_at_ms, r.trace_id) == (
        "order",
        WorkflowStatus.RUNNING,
        T0,
        "0af7651916cd43dd8448eb211c80319c",
    )
    step = r.current_step
    assert step is not None and (step.service, step.attempt, step.status) == ("inventory", 1, StepStatus.IN_FLIGHT)

    h.now_ms += 250
    pay = only(h.reply(reserve, RESERVED).commands("payments"))
    ship = only(h.reply(pay, CHARGED).commands("shipping"))
    h.reply(ship, SHIPPED)
    sync(store, topic)
    r = row(store, "o-1")
    assert r.status is WorkflowStatus.COMPLETED and r.closed_at_ms == T0 + 250 and r.current_step is None
    assert kinds(store, "o-1") == [
        "WorkflowStarted",
        "StepScheduled",
        "StepCompleted",
        "StepScheduled",
        "StepCompleted",
        "StepScheduled",
        "StepCompleted",
        "WorkflowCompleted",
    ]
    detail = WorkflowQueries(store).detail("o-1")
    assert detail is not None
    started, scheduled, completed = detail[1][:3]
    # payloads are kept as framed on the topic, with the schema to decode them by
    assert started.payload_schema == "sagabridge.demo.orders.OrderPlaced"
    assert h.serde.decode(started.payload or b"").value["order_id"] == "o-1"
    assert scheduled.payload_schema == "sagabridge.demo.inventory.ReserveStock" and scheduled.payload
    assert completed.detail["result_schema"] == "sagabridge.demo.inventory.StockReserved"
    assert h.serde.decode(completed.payload or b"").value["reservation_id"] == "r-1"
    assert (scheduled.step_seq, scheduled.attempt) == (completed.step_seq, 1)
    counts = WorkflowQueries(store).counts()
    assert counts.by_status == {WorkflowStatus.COMPLETED: 1} and counts.total == 1


def test_retries_park_and_operator_retry_are_followed(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    h.reply_failure(cmd, "Unavailable")
    sync(store, topic)
    r = row(store, "o-1")
    assert r.status is WorkflowStatus.RUNNING and r.retry_at_ms == h.now_ms + 1_000
    assert r.current_step is not None and r.current_step.status is StepStatus.BACKOFF
    assert (r.error_type, r.error_message) == ("Unavailable", "failed by the test")

    cmd = only(h.advance(1_000).commands())
    sync(store, topic)
    step = row(store, "o-1").current_step
    assert step is not None and (step.attempt, step.status) == (2, StepStatus.IN_FLIGHT)
    for _ in range(2):  # attempts 2 and 3 fail and are retried, attempt 4 (the last) parks
        h.reply_failure(cmd, "Unavailable")
        cmd = only(h.advance(10_000).commands())
    h.reply_failure(cmd, "Unavailable")
    sync(store, topic)
    r = row(store, "o-1")
    assert r.status is WorkflowStatus.PARKED and r.parked_reason is not None and "retries exhausted" in r.parked_reason
    assert r.current_step is not None and r.current_step.status is StepStatus.PARKED and r.retry_at_ms is None
    assert WorkflowQueries(store).counts().by_status == {WorkflowStatus.PARKED: 1}

    resent = only(h.operator("o-1", "RETRY", operator="alice").commands())
    sync(store, topic)
    r = row(store, "o-1")
    assert r.status is WorkflowStatus.RUNNING and r.parked_reason is None
    assert r.current_step is not None and r.current_step.status is StepStatus.IN_FLIGHT
    tail = kinds(store, "o-1")[-3:]
    assert tail == ["OperatorActionApplied", "StepScheduled", "WorkflowResumed"]
    detail = WorkflowQueries(store).detail("o-1")
    assert detail is not None
    action = next(e for e in detail[1] if e.kind == EntryKind.OPERATOR_ACTION_APPLIED)
    assert (action.detail["action"], action.detail["operator"]) == ("RETRY", "alice")
    assert resent.header("sb-attempt") == "5"
    assert WorkflowQueries(store).counts().by_status == {WorkflowStatus.RUNNING: 1}


def test_signal_wait_timer_and_search_attributes(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    order = OrderPlaced(order_id="t-1", customer_id="c-42", sku="s", quantity=1, amount_cents=1999, currency="EUR")
    h.start("tagged", order, id="t-1")
    sync(store, topic)
    r = row(store, "t-1")
    assert r.awaited_signals == ("approve",) and r.timer_due_ms == T0 + 2 * 3_600_000
    assert r.search_attributes == {"customer_id": "c-42", "amount_cents": 1999, "vip": False}
    queries = WorkflowQueries(store)
    found = queries.page(WorkflowFilter(attributes=(("customer_id", "c-42"),)))
    assert [w.workflow_id for w in found.workflows] == ["t-1"]
    assert queries.page(WorkflowFilter(attributes=(("vip", "false"), ("amount_cents", "1999")))).workflows
    assert queries.page(WorkflowFilter(attributes=(("customer_id", "c-1"),))).workflows == []

    h.signal("t-1", "approve", CustomerNotified(order_id="t-1", customer_id="bob", channel="ui", message="ok"))
    sync(store, topic)
    r = row(store, "t-1")
    assert r.awaited_signals == () and r.timer_due_ms is None
    assert r.search_attributes == {"customer_id": "c-42", "amount_cents": 1999, "stage": "reserving"}
    assert queries.page(WorkflowFilter(attributes=(("vip", "false"),))).workflows == []  # removed
    detail = queries.detail("t-1")
    assert detail is not None
    signal = next(e for e in detail[1] if e.kind == EntryKind.SIGNAL_RECEIVED)
    assert signal.detail["name"] == "approve"
    assert h.serde.decode(signal.payload or b"").value["customer_id"] == "bob"


def test_cancel_and_needs_attention(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    h.start("approval", ORDER, id="a-1")
    h.cancel("a-1", "customer changed their mind")
    VARIANT["nd"] = "inventory"
    reserve = only(h.start("nd", ORDER, id="n-1").output.commands())
    h.reply(reserve, StockReserved(reservation_id="r", order_id="o-1"))
    sync(store, topic)
    r = row(store, "a-1")
    assert r.status is WorkflowStatus.CANCELLED and r.cancel_requested
    assert "CancelRequested" in kinds(store, "a-1")
    assert row(store, "n-1").timer_due_ms == h.now_ms + 60_000

    h.evict("n-1")
    VARIANT["nd"] = "payments"  # the code changed under a running workflow
    try:
        h.advance(60_000)
        sync(store, topic)
        r = row(store, "n-1")
        assert r.status is WorkflowStatus.NEEDS_ATTENTION
        assert r.parked_reason is not None and r.parked_reason.startswith("non-determinism")
        VARIANT["nd"] = "inventory"  # fixed
        h.operator("n-1", "RETRY")
        sync(store, topic)
        assert row(store, "n-1").status in (WorkflowStatus.RUNNING, WorkflowStatus.COMPLETED)
        assert "WorkflowResumed" in kinds(store, "n-1")
    finally:
        VARIANT["nd"] = "inventory"


def test_re_reading_the_topic_changes_nothing_and_a_rebuild_is_identical(
    store: VisibilityStore, h: WorkflowEnvironment, tmp_path: object
) -> None:
    topic = EventsTopic(h)
    for i in range(5):
        cmd = only(h.start("order", ORDER, id=f"o-{i}").output.commands())
        if i % 2:
            h.reply(cmd, RESERVED)
    order = OrderPlaced(order_id="t", customer_id="c", sku="s", quantity=1, amount_cents=1, currency="EUR")
    h.start("tagged", order, id="t-1")
    topic.pull()
    records, events = topic.records, topic.events()
    half = len(records) // 2
    apply(store, records[:half], events[: sum(1 for e in events if e.offset < half)])
    apply(store, records[half:], [e for e in events if e.offset >= half])
    once = dump(store)
    again = apply(store, records, events)  # the whole topic once more (a restart from old offsets)
    assert (again.applied, again.skipped) == (0, len(events))
    assert dump(store) == once
    assert store.offsets(TOPIC) == {0: len(records)}

    store.drop()
    store.create()
    apply(store, records, events)  # rebuilt in one batch from the topic
    assert dump(store) == once
    counts = WorkflowQueries(store).counts()
    scanned = WorkflowQueries(store).counts(WorkflowFilter(started_after_ms=0))
    assert counts.by_status == scanned.by_status == {WorkflowStatus.RUNNING: 6}
    assert counts.exact_source == "counters" and scanned.exact_source == "scan"


def test_keyset_pages_are_stable_while_workflows_start(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    for i in range(7):
        h.now_ms += 10
        h.start("order", ORDER, id=f"o-{i}")
    sync(store, topic)
    queries = WorkflowQueries(store)
    first = queries.page(WorkflowFilter(), limit=3)
    assert [w.workflow_id for w in first.workflows] == ["o-6", "o-5", "o-4"] and first.next_cursor
    for i in range(7, 10):  # newer workflows land before the first page, never inside the next ones
        h.now_ms += 10
        h.start("order", ORDER, id=f"o-{i}")
    sync(store, topic)
    second = queries.page(WorkflowFilter(), limit=3, cursor=first.next_cursor)
    third = queries.page(WorkflowFilter(), limit=3, cursor=second.next_cursor)
    assert [w.workflow_id for w in second.workflows] == ["o-3", "o-2", "o-1"]
    assert [w.workflow_id for w in third.workflows] == ["o-0"] and third.next_cursor is None
    by_prefix = queries.page(WorkflowFilter(id_prefix="o-"), limit=4)
    assert [w.workflow_id for w in by_prefix.workflows] == ["o-0", "o-1", "o-2", "o-3"]
    rest = queries.page(WorkflowFilter(id_prefix="o-"), limit=10, cursor=by_prefix.next_cursor)
    assert [w.workflow_id for w in rest.workflows] == [f"o-{i}" for i in range(4, 10)]
    window = queries.page(WorkflowFilter(started_after_ms=T0 + 20, started_before_ms=T0 + 50))
    assert [w.workflow_id for w in window.workflows] == ["o-3", "o-2", "o-1"]
    parked = queries.page(WorkflowFilter(statuses=(WorkflowStatus.PARKED,), types=("order",)))
    assert parked.workflows == []


def test_timeline_detail_is_json_without_bytes(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    h.reply_failure(cmd, "Unavailable")
    sync(store, topic)
    detail = WorkflowQueries(store).detail("o-1")
    assert detail is not None
    retrying = next(e for e in detail[1] if e.kind == EntryKind.STEP_RETRYING)
    assert retrying.detail["error"]["error_type"] == "Unavailable" and "retry_at_ms" in retrying.detail
    for entry in detail[1]:
        json.dumps(entry.detail)  # every detail is plain JSON


def test_children_are_listed_with_their_parent(store: VisibilityStore, h: WorkflowEnvironment) -> None:
    topic = EventsTopic(h)
    out = h.start("parent", ORDER, id="p-1").output
    (child_start,) = out.to_topic(h.topics.inbox)
    h.send(h.records.redeliver(child_start))  # the child's start, as the inbox would deliver it
    sync(store, topic)
    detail = WorkflowQueries(store).detail("p-1")
    assert detail is not None
    assert [c.workflow_id for c in detail[2]] == ["p-1-child"]
    assert row(store, "p-1-child").parent_workflow_id == "p-1"
    assert WorkflowQueries(store).detail("p-1-child")[2] == []  # type: ignore[index]


def test_continue_as_new_keeps_one_row_showing_the_new_run(store: VisibilityStore, tmp_path: Path) -> None:
    env = WorkflowEnvironment(continuing, app="app", state_dir=tmp_path / "can")
    try:
        topic = EventsTopic(env)
        order = OrderPlaced(**{**ORDER.to_avro(), "quantity": 2})
        command = only(env.start("countdown", order, id="c-1").output.commands())
        for _ in range(STEPS_PER_RUN):  # the last reply of run 1 continues it: run 2's first step is out
            command = only(env.reply(command, RESERVED).commands())
        sync(store, topic)
        r = row(store, "c-1")
        assert r.status is WorkflowStatus.RUNNING and r.closed_at_ms is None
        assert r.current_step is not None and r.current_step.seq == command_seq(command) and len(r.open_steps) == 1
        detail = WorkflowQueries(store).detail("c-1")
        assert detail is not None
        (continued,) = [e for e in detail[1] if e.kind == EntryKind.WORKFLOW_CONTINUED_AS_NEW]
        assert (continued.detail["run"], continued.detail["previous_run_events"]) == (2, 1 + 2 * STEPS_PER_RUN)
        assert continued.payload_schema == "sagabridge.demo.orders.OrderPlaced"
        assert env.serde.decode(continued.payload or b"").value["quantity"] == 1
        for _ in range(STEPS_PER_RUN - 1):
            command = only(env.reply(command, RESERVED).commands())
        env.reply(command, RESERVED)
        sync(store, topic)
        assert row(store, "c-1").status is WorkflowStatus.COMPLETED
        assert kinds(store, "c-1").count("WorkflowStarted") == 1
    finally:
        env.close()


def command_seq(command: OutboundRecord) -> int:
    return int((command.header(header_names.COMMAND_ID) or "").rsplit("/", 1)[1])
