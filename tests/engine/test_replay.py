"""Cache eviction and aborted checkpoints: replay rebuilds runs exactly and emits nothing;
non-determinism parks only the affected run."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import fastavro

from examples.orders.models.inventory import StockReleased
from examples.orders.models.notifications import CustomerNotified
from orchestrator.engine import jsonvalue, keys
from orchestrator.engine.state_records import EVENT_SCHEMA
from orchestrator.serialization import SchemaRepository
from orchestrator.serialization.single_object import single_object_header
from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport.records import OutboundRecord
from orchestrator.workflow.activation import HistoryEvent
from tests.engine.test_saga import CHARGED, RESERVED, SHIPPED, only
from tests.engine.workflows import ENVIRONMENT, ORDER, VARIANT, registry


def scenario(h: WorkflowEnvironment, between: Callable[[], None]) -> list[OutboundRecord]:
    """Two sagas, one approval and one parallel run interleaved, with `between` after each input."""
    a = only(h.start("order", ORDER, id="o-1").output.commands())
    between()
    b = only(h.start("order", ORDER, id="o-2").output.commands())
    between()
    h.start("approval", ORDER, id="a-1")
    between()
    h.reply_failure(a, "Unavailable")
    between()
    a2 = only(h.advance(1_000).commands())
    between()
    pay_b = only(h.reply(b, RESERVED).commands())
    between()
    pay_a = only(h.reply(a2, RESERVED).commands())
    between()
    ship_b = only(h.reply(pay_b, CHARGED).commands())
    between()
    h.signal("a-1", "approve", CustomerNotified(order_id="o", customer_id="c", channel="x", message="y"))
    between()
    refund = only(h.reply_failure(pay_a, "PaymentDeclined", retryable=False).commands())
    between()
    h.reply(ship_b, SHIPPED)
    between()
    h.reply(refund, StockReleased(reservation_id="r-1"))
    between()
    h.send(h.records.query("o-1", "status", query_id="q1", reply_topic="app.events"))
    return list(h.produced)


Outcome = tuple[list[OutboundRecord], dict[str, list[HistoryEvent]], int]


def run(tmp_path: Path, name: str, cache_size: int, mode: str) -> Outcome:
    h = WorkflowEnvironment(registry, state_dir=tmp_path / name, **{**ENVIRONMENT, "cache_size": cache_size})
    try:

        def between() -> None:
            if mode == "evict-all":
                h.engine.discard(["o-1", "o-2", "a-1"])

        produced = scenario(h, between)
        histories = {wf: list(h.history(wf)) for wf in ("o-1", "o-2", "a-1")}
        return produced, histories, h.engine.stats.replays
    finally:
        h.close()


def test_replay_after_eviction_behaves_identically_and_emits_nothing(tmp_path: Path) -> None:
    baseline, base_hist, base_replays = run(tmp_path, "warm", 100, "none")
    assert base_replays == 0
    assert {wf: h[-1].kind for wf, h in base_hist.items()} == {"o-1": "failed", "o-2": "completed", "a-1": "completed"}
    for name, size, mode in (("lru1", 1, "none"), ("evict", 100, "evict-all")):
        produced, hist, replays = run(tmp_path, name, size, mode)
        assert replays >= 5, name  # runs really were rebuilt, several times
        assert produced == baseline, name  # same records, same order, byte for byte
        assert hist == base_hist, name


def test_replay_counts_and_quiet_rebuild(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    h.reply(cmd, RESERVED)
    h.engine.discard(["o-1"])
    replays = h.engine.stats.replays
    out = h.send(
        h.records.query("o-1", "status", query_id="q1", reply_topic="app.events")
    )  # forces a rebuild; only the query answer comes out
    assert [r.topic for r in out] == ["app.events"]
    assert h.engine.stats.replays == replays + 1


def test_non_determinism_parks_only_that_run_then_operator_retry_resumes(h: WorkflowEnvironment) -> None:
    nd_cmd = only(h.start("nd", ORDER, id="nd-1").output.commands())
    other = only(h.start("order", ORDER, id="o-1").output.commands())
    h.engine.discard(["nd-1", "o-1"])
    VARIANT["nd"] = "payments"  # "deploy" code that asks for something else at the same point
    out = h.reply(nd_cmd, RESERVED)
    parked = only(out.events("WorkflowParked"))
    assert "non-determinism" in parked["reason"]
    assert h.header("nd-1").status == "needs-attention"
    assert h.kinds("nd-1")[-1] == "step_completed"  # the reply was still recorded durably
    assert out.commands() == []
    # the other run on the partition carries on
    assert only(h.reply(other, RESERVED).commands("payments"))
    assert h.operator("nd-1", "SKIP")[0].topic == "app.dlq"  # needs runnable code
    VARIANT["nd"] = "inventory"  # the fix is deployed
    h.operator("nd-1", "RETRY")
    assert h.header("nd-1").status == "running"
    assert only(h.advance(60_000).events("WorkflowCompleted"))


def test_discard_after_abort_rebuilds_from_the_committed_state(h: WorkflowEnvironment) -> None:
    cmd = only(h.start("order", ORDER, id="o-1").output.commands())
    committed = h.history("o-1")
    # an input handled into a transaction that is then aborted
    dropped_txn = h.txn
    h.engine.handle(
        h.records.record(
            "o-1",
            None,
            {
                "sb-workflow-id": "o-1",
                "sb-command-id": cmd.header("sb-command-id") or "",
                "sb-attempt": "1",
                "sb-reply-status": "failure",
                "sb-error-type": "X",
                "sb-retryable": "true",
            },
        ),
        dropped_txn,
        h.now_ms,
    )
    h.abort()
    assert h.history("o-1") == committed
    out = h.reply(cmd, RESERVED)  # the run, rebuilt from committed history, takes the success
    assert only(out.commands("payments"))


def _as_v1(h: WorkflowEnvironment, workflow_id: str) -> int:
    """Rewrite a workflow's stored history as a release before HistoryEvent v2 wrote it: every
    field in the JSON data, no record bytes, framed with the v1 schema's fingerprint."""
    (v1,) = [e for e in SchemaRepository().versions(EVENT_SCHEMA) if e.version == 1]
    start, end = keys.history_range(workflow_id)
    rewritten = 0
    for key, raw in list(h.txn.scan(start, end)):
        event = h.engine.codec.decode_event(raw)
        body = io.BytesIO()
        value = {"seq": event.seq, "kind": event.kind, "at_ms": event.at_ms, "data": jsonvalue.dumps(event.data)}
        fastavro.schemaless_writer(body, v1.parsed, value)
        h.txn.put(key, single_object_header(v1) + body.getvalue())
        rewritten += 1
    h.store.apply(h.txn, None)
    h.txn = h.store.begin()
    return rewritten


def test_history_written_before_v2_as_json_still_restores_and_replays(tmp_path: Path) -> None:
    """Stores and changelogs of older releases hold every event's record as JSON in `data`: after
    a restart their runs replay from that and go on exactly as runs recorded with record bytes."""
    outcomes = []
    for name in ("v2", "v1"):
        h = WorkflowEnvironment(registry, state_dir=tmp_path / name, **ENVIRONMENT)
        try:
            reserve = only(h.start("order", ORDER, id="o-1").output.commands())
            pay = only(h.reply(reserve, RESERVED).commands())
            before = list(h.history("o-1"))
            assert any(e.kind == "step_completed" for e in before)
            stored = [h.serde.decode(raw, EVENT_SCHEMA).value for _, raw in h.txn.scan(*keys.history_range("o-1"))]
            records = {e["kind"]: e["record"] for e in stored if e["record"] is not None}
            assert set(records) == {"started", "step_scheduled", "step_completed"}  # bytes, not JSON
            assert b"r-1" not in next(e["data"] for e in stored if e["kind"] == "step_completed")
            if name == "v1":
                assert _as_v1(h, "o-1") == len(before)
            h.restart()
            assert list(h.history("o-1")) == before  # the same events, whichever form they are stored in
            ship = only(h.reply(pay, CHARGED).commands())
            done = h.reply(ship, SHIPPED)
            assert h.engine.stats.replays == 1
            outcomes.append((h.decode(ship), [h.decode(r) for r in done], list(h.history("o-1"))))
        finally:
            h.close()
    assert outcomes[0] == outcomes[1]
