"""Retention purge and dead-lettering of bad inbox records."""

from __future__ import annotations

from typing import Any

from orchestrator.models.demo.orders import OrderPlaced
from tests.engine.harness import DLQ, Harness
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import ORDER


def test_retention_purge_deletes_every_key(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    pay = only(h.commands(h.reply_ok(cmd, RESERVED)))
    ship = only(h.commands(h.reply_ok(pay, CHARGED)))
    h.reply_ok(ship, SHIPPED)
    h.start("o-2", "order", ORDER)  # still running: must survive the purge
    assert h.keys_of("o-1")
    h.advance(86_400_000 - 1)
    assert h.keys_of("o-1")
    h.advance(1)
    assert h.keys_of("o-1") == []
    assert h.keys_of("o-2")
    assert h.engine.stats.purged == 1
    _, answer = h.decode(only(h.query("o-1", "status")))
    assert answer["ok"] is False


def dlq_of(out: list[Any]) -> Any:
    record = only(out)
    assert record.topic == DLQ
    return record


def test_bad_records_go_to_the_dlq_untouched_and_change_nothing(h: Harness) -> None:
    cmd = only(h.commands(h.start("o-1", "order", ORDER)))
    before = h.history("o-1")
    wf = {"sb-workflow-id": "o-1", "sb-command-id": cmd.header("sb-command-id"), "sb-attempt": "1"}
    cases: list[tuple[str, Any]] = [
        ("malformed", h.record("o-1", b"\x00garbage")),
        ("unknown-schema", h.record("o-1", b"\xc3\x01" + b"\x01" * 8 + b"\x00")),
        ("invalid-record", h.record("o-1", h.serde.encode(ORDER.avro_schema_name, ORDER.to_avro()))),
        ("invalid-record", h.record("o-1", None)),
        ("invalid-record", h.record("o-1", None, {"sb-reply-status": "success"})),
        ("invalid-record", h.record("o-1", None, {**wf, "sb-reply-status": "maybe"})),
        ("invalid-record", h.record("o-1", None, {**wf, "sb-command-id": "other/1", "sb-reply-status": "success"})),
        ("invalid-record", h.record("o-1", None, {**wf, "sb-attempt": "one", "sb-reply-status": "success"})),
        ("invalid-record", h.record("wrong-key", None, {**wf, "sb-reply-status": "success"})),
        ("malformed", h.record("o-1", b"\x00bad-body", {**wf, "sb-reply-status": "success"})),
    ]
    start = {
        "workflow_type": "no-such-type",
        "workflow_id": "x-1",
        "input_schema": ORDER.avro_schema_name,
        "input": h.serde.encode(ORDER.avro_schema_name, ORDER.to_avro()),
        "parent_workflow_id": None,
        "parent_seq": None,
        "trace_context": {},
        "requested_at_ms": 0,
    }
    cases.append(("unknown-workflow-type", h.record("x-1", h.serde.encode("sagabridge.control.StartWorkflow", start))))
    cases.append(
        (
            "malformed",
            h.record(
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
            h.record(
                "not-x-1", h.serde.encode("sagabridge.control.StartWorkflow", {**start, "workflow_type": "order"})
            ),
        )
    )
    for reason, record in cases:
        out = dlq_of(h.feed(record))
        assert out.header("sb-dlq-reason") == reason, (reason, out.header("sb-dlq-error"))
        assert out.value == record.value and out.key == record.key
        assert out.headers[: len(record.headers)] == record.headers
        assert out.header("sb-dlq-source-offset") == str(record.offset)
    assert h.history("o-1") == before
    assert h.store.get(b"w/x-1") is None
    assert h.engine.stats.dead_lettered == len(cases)
    # the partition keeps working
    other = OrderPlaced(**{**ORDER.model_dump(), "order_id": "o-9"})
    assert only(h.commands(h.start("o-9", "order", other)))
