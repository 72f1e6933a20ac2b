"""Durable correlation in the engine (real RocksDB, engine clock): de-duplication, early-signal
buffer and its TTL, signal-with-start, native step outcomes, purge, and old writers."""

from __future__ import annotations

import io
from typing import Any

import fastavro

from examples.orders.models.inventory import ReleaseStock, StockReserved
from examples.orders.models.notifications import CustomerNotified
from examples.orders.models.orders import OrderPlaced
from orchestrator.engine.correlation_store import BUFFER, MESSAGE
from orchestrator.serialization import SchemaRepository
from orchestrator.testing import WorkflowEnvironment
from orchestrator.testing.outputs import Output
from orchestrator.workflow import WorkflowStatus
from tests.engine.test_saga import RESERVED, only
from tests.engine.workflows import DLQ, ORDER

NOTE = CustomerNotified(order_id="o-1", customer_id="bob", channel="email", message="ok")
SIGNAL = "sagabridge.control.SignalWorkflow"
OUTCOME = "sagabridge.control.StepOutcome"


def control(h: WorkflowEnvironment, schema: str, value: dict[str, Any]) -> Output:
    return h.send(h.records.record(value["workflow_id"], h.serde.encode(schema, value)))


def signal(
    h: WorkflowEnvironment,
    wf: str,
    *,
    message_id: str | None = None,
    on_missing: str = "DROP",
    ttl: int | None = None,
    who: str = "bob",
) -> Output:
    note = NOTE.model_copy(update={"customer_id": who})
    return control(
        h,
        SIGNAL,
        {
            "workflow_id": wf,
            "name": "approve",
            "payload_schema": note.avro_schema_name,
            "payload": h.serde.encode(note.avro_schema_name, note.to_avro()),
            "message_id": message_id,
            "on_missing": on_missing,
            "buffer_ttl_ms": ttl,
        },
    )


def start(h: WorkflowEnvironment, wf: str, workflow_type: str = "approval", message_id: str | None = None) -> Output:
    return control(
        h,
        "sagabridge.control.StartWorkflow",
        {
            "workflow_type": workflow_type,
            "workflow_id": wf,
            "input_schema": ORDER.avro_schema_name,
            "input": h.serde.encode(ORDER.avro_schema_name, ORDER.to_avro()),
            "trace_context": {},
            "requested_at_ms": h.now_ms,
            "message_id": message_id,
        },
    )


def signal_with_start(h: WorkflowEnvironment, wf: str, message_id: str | None, who: str = "carol") -> Output:
    note = NOTE.model_copy(update={"customer_id": who})
    return control(
        h,
        "sagabridge.control.SignalWithStart",
        {
            "workflow_type": "approval",
            "workflow_id": wf,
            "input_schema": ORDER.avro_schema_name,
            "input": h.serde.encode(ORDER.avro_schema_name, ORDER.to_avro()),
            "signal_name": "approve",
            "payload_schema": note.avro_schema_name,
            "payload": h.serde.encode(note.avro_schema_name, note.to_avro()),
            "message_id": message_id,
            "requested_at_ms": h.now_ms,
        },
    )


def outcome(
    h: WorkflowEnvironment,
    wf: str,
    service: str,
    *,
    success: bool,
    command_type: str | None = None,
    result: Any = None,
    error_type: str = "OutOfStock",
    retryable: bool = False,
    message_id: str | None = None,
) -> Output:
    return control(
        h,
        OUTCOME,
        {
            "workflow_id": wf,
            "service": service,
            "command_type": command_type,
            "success": success,
            "result_schema": None if result is None else result.avro_schema_name,
            "result": None if result is None else h.serde.encode(result.avro_schema_name, result.to_avro()),
            "error": None
            if success
            else {"error_type": error_type, "message": "none left", "retryable": retryable, "details": {}},
            "message_id": message_id,
        },
    )


def completed_by(h: WorkflowEnvironment, out: Output) -> str:
    done = only(out.events("WorkflowCompleted"))
    return str(h.serde.decode(done["result"]).value["reservation_id"])


def store_keys(h: WorkflowEnvironment, prefix: bytes) -> list[bytes]:
    return [k for k, _ in h.txn.scan(prefix, prefix[:-1] + bytes([prefix[-1] + 1]))]


def test_a_repeated_message_id_changes_nothing(h: WorkflowEnvironment) -> None:
    start(h, "a-1", message_id="evt-1")
    assert start(h, "a-1", message_id="evt-1") == []
    out = signal(h, "a-1", message_id="evt-2")
    assert completed_by(h, out) == "approved-by-bob"
    history = h.kinds("a-1")
    assert signal(h, "a-1", message_id="evt-2") == []
    assert h.kinds("a-1") == history and history.count("signal_received") == 1
    assert h.engine.correlation.stats.deduplicated == 2


def test_early_signals_wait_in_the_buffer_and_are_delivered_in_offset_order_at_start(h: WorkflowEnvironment) -> None:
    assert signal(h, "a-1", message_id="e1", on_missing="BUFFER", ttl=60_000, who="first") == []
    assert signal(h, "a-1", message_id="e2", on_missing="BUFFER", ttl=60_000, who="second") == []
    assert len(store_keys(h, BUFFER)) == 2 and len(h.timer_keys()) == 2
    assert signal(h, "a-1", message_id="e1", on_missing="BUFFER", ttl=60_000) == []  # duplicate while buffered
    out = start(h, "a-1")
    assert completed_by(h, out) == "approved-by-first"  # the first buffered signal, delivered right after start
    assert store_keys(h, BUFFER) == [] and h.timer_keys() == []
    signals = [e.data["payload"]["customer_id"] for e in h.history("a-1") if e.kind == "signal_received"]
    assert signals == ["first"]  # the workflow finished on it; the second was delivered after and dropped
    assert h.engine.stats.signals_dropped == 1
    stats = h.engine.correlation.stats
    assert (stats.buffered, stats.delivered_from_buffer, stats.deduplicated) == (2, 2, 1)


def test_a_buffered_signal_past_its_ttl_is_dead_lettered_with_its_original_bytes(h: WorkflowEnvironment) -> None:
    signal(h, "late-1", message_id="e1", on_missing="BUFFER", ttl=5_000)
    assert h.produced == []  # buffering produces nothing
    original = h.serde.decode(h.txn.get(store_keys(h, BUFFER)[0]) or b"").value["value"]
    assert h.advance(4_999) == []
    dlq = only(h.advance(1))
    assert dlq.topic == DLQ and dlq.key == b"late-1" and dlq.value == original
    assert dlq.header("sb-dlq-reason") == "buffer-ttl-expired"
    assert "5000 ms" in (dlq.header("sb-dlq-error") or "")
    assert store_keys(h, BUFFER) == [] and store_keys(h, MESSAGE) == [] and h.timer_keys() == []
    out = start(h, "late-1")
    assert out.events("WorkflowCompleted") == []  # the expired signal is gone for good
    assert h.engine.correlation.stats.buffer_expired == 1


def test_on_missing_dlq_and_drop(h: WorkflowEnvironment) -> None:
    dlq = only(signal(h, "nobody", on_missing="DLQ"))
    assert dlq.topic == DLQ and dlq.header("sb-dlq-reason") == "workflow-not-found"
    assert signal(h, "nobody", on_missing="DROP") == []
    assert h.engine.stats.signals_dropped == 1
    assert h.keys_of("nobody") == []


def test_signal_with_start_is_atomic_and_signals_an_existing_workflow_only(h: WorkflowEnvironment) -> None:
    out = signal_with_start(h, "sws-1", message_id="m1")
    assert out.event_names()[0] == "WorkflowStarted"
    assert completed_by(h, out) == "approved-by-carol"
    assert signal_with_start(h, "sws-1", message_id="m1") == []  # repeated id: nothing
    assert h.engine.correlation.stats.signals_with_start == 1
    start(h, "sws-2")
    out = signal_with_start(h, "sws-2", message_id="m2", who="dave")
    assert "WorkflowStarted" not in out.event_names()
    assert completed_by(h, out) == "approved-by-dave"
    assert h.kinds("sws-2").count("started") == 1


def test_signal_with_start_delivers_buffered_signals_before_its_own(h: WorkflowEnvironment) -> None:
    signal(h, "sws-3", message_id="early", on_missing="BUFFER", ttl=60_000, who="early")
    out = signal_with_start(h, "sws-3", message_id="later", who="later")
    assert completed_by(h, out) == "approved-by-early"


def test_step_outcomes_settle_the_open_step_of_their_service(h: WorkflowEnvironment) -> None:
    h.start("order", ORDER, id="o-1")
    out = outcome(h, "o-1", "payments", success=True)  # no payments step was scheduled yet
    assert only(out.events("ReplyIgnored"))["why"] == "unknown-step"
    out = outcome(h, "o-1", "inventory", success=False, error_type="Busy", retryable=True, message_id="x1")
    assert out.event_names() == ["StepRetrying"]
    out = outcome(h, "o-1", "inventory", success=False, error_type="Busy", retryable=True, message_id="x2")
    assert only(out.events("ReplyIgnored"))["why"] == "late"  # in backoff: not the current attempt's
    out = outcome(
        h,
        "o-1",
        "inventory",
        success=True,
        command_type="sagabridge.demo.inventory.ReserveStock",
        result=RESERVED,
        message_id="x3",
    )
    assert "StepCompleted" in out.event_names()
    assert only(out.commands("payments"))  # the workflow moved on
    assert outcome(h, "o-1", "inventory", success=True, result=RESERVED, message_id="x3") == []  # repeated id


def test_a_failure_outcome_fails_the_step_and_the_saga_compensates(h: WorkflowEnvironment) -> None:
    out = h.start("order", ORDER, id="o-2").output
    reserve = only(out.commands("inventory"))
    h.reply(reserve, RESERVED)
    out = outcome(h, "o-2", "payments", success=False, error_type="PaymentDeclined", message_id="d1")
    release = only(out.commands("inventory"))
    assert h.decode(release)[0] == ReleaseStock.avro_schema_name
    # an outcome restricted to another command type does not settle the compensation step
    out = outcome(
        h, "o-2", "inventory", success=True, command_type="sagabridge.demo.inventory.ReserveStock", result=RESERVED
    )
    assert only(out.events("ReplyIgnored"))["why"] == "duplicate"  # the reservation completed already
    out = outcome(h, "o-2", "inventory", success=True, command_type=ReleaseStock.avro_schema_name)
    assert "WorkflowCompensated" in out.event_names()


def test_a_permanent_failure_outcome_settles_the_step_in_backoff_and_a_late_success_is_abandoned(
    h: WorkflowEnvironment,
) -> None:
    """The protocol's rule (docs/protocol.md §4): a permanent failure settles the step whatever
    its state; a success for a step that failed is an effect nobody compensates, counted."""
    h.start("order", ORDER, id="o-4")
    out = outcome(h, "o-4", "inventory", success=False, error_type="Busy", retryable=True)
    assert out.event_names() == ["StepRetrying"]  # now waiting in backoff, no attempt in flight
    out = outcome(h, "o-4", "inventory", success=False, error_type="OutOfStock", retryable=False)
    assert only(out.events("StepFailed"))["error"]["error_type"] == "OutOfStock"
    assert out.events("ReplyIgnored") == []
    assert h.header("o-4").finished and h.timer_keys() == []  # the pending retry went with the step
    out = outcome(h, "o-4", "inventory", success=True, result=RESERVED)
    assert only(out.events("ReplyIgnored"))["why"] == "abandoned"
    assert h.engine.stats.abandoned_successes == 1
    out = outcome(h, "o-4", "inventory", success=False)
    assert only(out.events("ReplyIgnored"))["why"] == "late"


def test_a_cancel_waits_for_the_native_step_in_flight_and_compensates_its_success(h: WorkflowEnvironment) -> None:
    h.start("order", ORDER, id="o-5")
    assert h.cancel("o-5").commands() == []  # the reservation may be under way: wait for its event
    assert h.header("o-5").status is WorkflowStatus.RUNNING
    out = outcome(h, "o-5", "inventory", success=True, result=RESERVED)
    assert "StepCompleted" in out.event_names()
    release = only(out.commands("inventory"))
    assert h.decode(release)[0] == ReleaseStock.avro_schema_name  # the reservation made after the cancel is undone
    out = outcome(h, "o-5", "inventory", success=True, command_type=ReleaseStock.avro_schema_name)
    assert "WorkflowCancelled" in out.event_names()
    assert h.header("o-5").status is WorkflowStatus.CANCELLED


def test_a_retryable_failure_outcome_after_a_cancel_settles_the_step_as_not_done(h: WorkflowEnvironment) -> None:
    h.start("order", ORDER, id="o-6")
    h.cancel("o-6")
    out = outcome(h, "o-6", "inventory", success=False, error_type="Busy", retryable=True)
    assert only(out.events("StepFailed"))["error"]["error_type"] == "Busy"
    assert out.commands() == [] and "StepRetrying" not in out.event_names()  # no retry, nothing to undo
    assert h.header("o-6").status is WorkflowStatus.CANCELLED


def test_message_ids_are_purged_with_their_workflow(h: WorkflowEnvironment) -> None:
    start(h, "p-1", message_id="s1")
    signal(h, "p-1", message_id="s2")
    assert len(store_keys(h, MESSAGE)) == 2
    h.advance(h.retention_ms + 1)
    assert store_keys(h, MESSAGE) == [] and h.keys_of("p-1") == []


def test_records_of_writers_that_predate_the_new_fields_still_decode(h: WorkflowEnvironment) -> None:
    """A StartWorkflow/SignalWorkflow encoded with the v1 schemas (no message_id, no on_missing)."""
    repo = SchemaRepository()  # the built-in schemas, every version

    def encode_v1(name: str, value: dict[str, Any]) -> bytes:
        v1 = repo.versions(name)[0]
        assert v1.version == 1
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, v1.parsed, value)
        return b"\xc3\x01" + v1.fingerprint + buf.getvalue()

    order = OrderPlaced(**ORDER.model_dump())
    body: dict[str, Any] = {
        "workflow_type": "approval",
        "workflow_id": "old-1",
        "input_schema": order.avro_schema_name,
        "input": h.serde.encode(order.avro_schema_name, order.to_avro()),
        "parent_workflow_id": None,
        "parent_seq": None,
        "trace_context": {},
        "requested_at_ms": h.now_ms,
    }
    h.send(h.records.record("old-1", encode_v1("sagabridge.control.StartWorkflow", body)))
    assert h.header("old-1").status is WorkflowStatus.RUNNING
    sig = {
        "workflow_id": "old-1",
        "name": "approve",
        "payload_schema": NOTE.avro_schema_name,
        "payload": h.serde.encode(NOTE.avro_schema_name, NOTE.to_avro()),
    }
    out = h.send(h.records.record("old-1", encode_v1(SIGNAL, sig)))
    assert completed_by(h, out) == "approved-by-bob"
    assert signal(h, "never-started", on_missing="DROP") == []  # v1 behaviour for missing ones: dropped


def test_reserved_result_type_is_what_the_outcome_carried(h: WorkflowEnvironment) -> None:
    out = h.start("order", ORDER, id="o-3").output
    out = outcome(h, "o-3", "inventory", success=True, result=StockReserved(reservation_id="R9", order_id="o-1"))
    done = only(out.events("StepCompleted"))
    assert done["result_schema"] == StockReserved.avro_schema_name
    assert h.serde.decode(done["result"]).value["reservation_id"] == "R9"


def test_buffered_signals_and_message_ids_survive_a_restart_of_the_engine(h: WorkflowEnvironment) -> None:
    """They are store keys like any other: a new engine over the same store (a restart, or a new
    owner after restore) still delivers the buffer and still knows the ids."""
    signal(h, "r-1", message_id="e1", on_missing="BUFFER", ttl=60_000, who="before-restart")
    h.restart()
    assert signal(h, "r-1", message_id="e1", on_missing="BUFFER", ttl=60_000) == []  # still a duplicate
    assert h.engine.correlation.stats.deduplicated == 1
    assert completed_by(h, start(h, "r-1")) == "approved-by-before-restart"
