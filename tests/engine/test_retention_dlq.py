"""Retention purge and dead-lettering of bad inbox records."""

from __future__ import annotations

from typing import Any

from examples.orders.models.orders import OrderPlaced
from orchestrator.testing import WorkflowEnvironment
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import DLQ, ORDER


def test_retention_purge_deletes_every_key(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    pay = only(h.reply(cmd, RESERVED).commands())
    ship = only(h.reply(pay, CHARGED).commands())
    h.reply(ship, SHIPPED)
    h.start("order", ORDER, id="o-2")  # still running: must survive the purge
    assert h.keys_of("o-1")
    h.advance(86_400_000 - 1)
    assert h.keys_of("o-1")
    h.advance(1)
    assert h.keys_of("o-1") == []
    assert h.keys_of("o-2")
    assert h.engine.stats.purged == 1
    _, answer = h.decode(only(h.send(h.records.query("o-1", "status", query_id="q1", reply_topic="client.replies"))))
    assert answer["ok"] is False


def dlq_of(out: list[Any]) -> Any:
    record = only(out)
    assert record.topic == DLQ
    return record


def test_bad_records_go_to_the_dlq_untouched_and_change_nothing(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    before = h.history("o-1")
    wf = {"sb-workflow-id": "o-1", "sb-command-id": cmd.header("sb-command-id"), "sb-attempt": "1"}
    cases: list[tuple[str, Any]] = [
        ("malformed", h.records.record("o-1", b"\x00garbage")),
        ("unknown-schema", h.records.record("o-1", b"\xc3\x01" + b"\x01" * 8 + b"\x00")),
        ("invalid-record", h.records.record("o-1", h.serde.encode(ORDER.avro_schema_name, ORDER.to_avro()))),
        ("invalid-record", h.records.record("o-1", None)),
        ("invalid-record", h.records.record("o-1", None, {"sb-reply-status": "success"})),
        ("invalid-record", h.records.record("o-1", None, {**wf, "sb-reply-status": "maybe"})),
        (
            "invalid-record",
            h.records.record("o-1", None, {**wf, "sb-command-id": "other/1", "sb-reply-status": "success"}),
        ),
        ("invalid-record", h.records.record("o-1", None, {**wf, "sb-attempt": "one", "sb-reply-status": "success"})),
        ("invalid-record", h.records.record("wrong-key", None, {**wf, "sb-reply-status": "success"})),
        ("malformed", h.records.record("o-1", b"\x00bad-body", {**wf, "sb-reply-status": "success"})),
    ]
    start: dict[str, Any] = {
        "workflow_type": "no-such-type",
        "workflow_id": "x-1",
        "input_schema": ORDER.avro_schema_name,
        "input": h.serde.encode(ORDER.avro_schema_name, ORDER.to_avro()),
        "parent_workflow_id": None,
        "parent_seq": None,
        "trace_context": {},
        "requested_at_ms": 0,
    }
    cases.append(
        ("unknown-workflow-type", h.records.record("x-1", h.serde.encode("sagabridge.control.StartWorkflow", start)))
    )
    cases.append(
        (
            "malformed",
            h.records.record(
                "x-1",
                h.serde.encode(
                    "sagabridge.control.StartWorkflow", {**start, "workflow_type": "order", "input": b"junk"}
                ),
            ),
        )
    )
    cases.append(
        (
            "invalid-record",
            h.records.record(
                "not-x-1", h.serde.encode("sagabridge.control.StartWorkflow", {**start, "workflow_type": "order"})
            ),
        )
    )
    for reason, record in cases:
        out = dlq_of(h.send(record))
        assert out.header("sb-dlq-reason") == reason, (reason, out.header("sb-dlq-error"))
        assert out.value == record.value and out.key == record.key
        assert out.headers[: len(record.headers)] == record.headers
        assert out.header("sb-dlq-source-offset") == str(record.offset)
    assert h.history("o-1") == before
    assert h.store.get(b"w/x-1") is None
    assert h.engine.stats.dead_lettered == len(cases)
    # the partition keeps working
    other = OrderPlaced(**{**ORDER.model_dump(), "order_id": "o-9"})
    assert only(h.start("order", other, id="o-9").output.commands())
