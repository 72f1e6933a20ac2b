"""Fuzzing the orchestrator's inbox: whatever arrives, the partition loop keeps going.

`PartitionEngine.handle` is the loop's step for one inbox record (decode with the configured
framing, `decode_inbound`, dispatch). For arbitrary bytes, headers and keys and for structure-
aware mutations of valid records (tests/serialization/mutations.py), in both framings:

- `handle` returns; nothing but the transient registry outage may escape it;
- a rejected record becomes exactly one DLQ record: original key, value and headers untouched,
  a known `sb-dlq-reason`, its source coordinates, and no state written;
- an accepted record is one `decode_inbound` turns into a typed message.

The engine keeps its state across examples, so garbage meets live workflows; afterwards a saga
fed between garbage records still ends exactly as it does alone. No broker needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples.orders.models.inventory import StockReserved
from orchestrator.engine.inbound import decode_inbound
from orchestrator.errors import DecodeError
from orchestrator.models.control import QueryWorkflow, StartWorkflow
from orchestrator.serialization import SchemaRepository
from orchestrator.testing import WorkflowEnvironment
from orchestrator.transport import header_names as h
from orchestrator.transport.records import InboundRecord, OutboundRecord
from tests.engine.workflows import DLQ, ENVIRONMENT, EVENTS, INBOX, ORDER, registry
from tests.serialization.mutations import FRAMINGS, FUZZ, Mutator, arbitrary_batches, fuzz_serde

REPO = SchemaRepository()
SEED_ID = "wf-seed"
COMMAND_TOPICS = {"billing.in", *(f"{s}.commands" for s in ("inventory", "payments", "shipping", "notifications"))}
# Every sb-dlq-reason the engine may write: DecodeError reasons, then processing failures.
REASONS = {
    "undecodable",
    "malformed",
    "unknown-schema",
    "wrong-record-type",
    "incompatible-schema",
    "too-large",
    "invalid-record",
    "unknown-workflow-type",
}


@pytest.fixture(params=FRAMINGS)
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkflowEnvironment]:
    """The real engine over a real RocksDB store, in the framing under test."""
    env = WorkflowEnvironment(registry, state_dir=tmp_path, serde=fuzz_serde(request.param, REPO), **ENVIRONMENT)
    yield env
    env.close()


def seeds(env: WorkflowEnvironment) -> list[InboundRecord]:
    """Valid inbox records of every kind, aimed at a live workflow (built, not fed)."""
    reserve = env.start("order", ORDER, id=SEED_ID).output.commands("inventory")[0]
    wf, cid, attempt = SEED_ID, reserve.header(h.COMMAND_ID) or "", int(reserve.header(h.ATTEMPT) or "1")
    records, serde = env.records, env.serde
    result = StockReserved(reservation_id="r-1", order_id="o-1")

    def control(schema: str, value: dict[str, object]) -> InboundRecord:
        return records.record(SEED_ID, serde.encode(schema, value))

    return [
        records.success(wf, cid, attempt, result),
        records.failure(wf, cid, attempt, "OutOfStock", "none left", retryable=False),
        records.start("wf-new", "order", ORDER, requested_at_ms=env.now_ms),
        records.signal(SEED_ID, "approve", result),
        records.cancel(SEED_ID, "fuzz"),
        records.query(SEED_ID, "status", query_id="q", reply_topic=EVENTS),
        records.operator(SEED_ID, "SKIP", seq=1, result=result, operator="fuzz", reason="fuzz"),
        control(
            "sagabridge.control.ChildWorkflowFinished",
            {
                "workflow_id": SEED_ID,
                "parent_seq": 1,
                "child_workflow_id": "child",
                "status": "completed",
                "result_schema": result.avro_schema_name,
                "result": serde.encode(result.avro_schema_name, result),
                "error": None,
            },
        ),
    ]


def check_handled(env: WorkflowEnvironment, record: InboundRecord) -> list[OutboundRecord]:
    """Feed one record and assert the loop's contract for it, then checkpoint as the runner would."""
    out = env.engine.handle(record, env.txn, env.now_ms)  # must not raise
    # Only topics the deployment names: a topic taken from the input could be one the broker
    # refuses, and that would abort the checkpoint transaction on every retry.
    assert {r.topic for r in out} <= {INBOX, EVENTS, DLQ, *COMMAND_TOPICS}, [r.topic for r in out]
    dead = [r for r in out if r.topic == DLQ]
    if dead:
        assert out == dead and len(dead) == 1, "a rejected record must produce its DLQ copy and nothing else"
        (copy,) = dead
        assert (copy.key, copy.value) == (record.key, record.value)
        assert copy.headers[: len(record.headers)] == record.headers
        assert copy.header(h.DLQ_REASON) in REASONS, copy.header("sb-dlq-error")
        assert copy.header(h.DLQ_SOURCE_TOPIC) == INBOX
        assert copy.header(h.DLQ_SOURCE_OFFSET) == str(record.offset)
        assert env.txn.is_empty(), "a dead-lettered record must not change state"
    else:
        try:
            decode_inbound(record, env.serde)
        except DecodeError as exc:  # pragma: no cover - the assertion explains
            raise AssertionError(f"accepted a record that does not decode: {exc}") from exc
    env._call(lambda: out)  # the checkpoint: apply the turn's writes, route its records
    return out


ARBITRARY = arbitrary_batches(INBOX, REPO, [SEED_ID])


@FUZZ
@given(records=ARBITRARY)
def test_arbitrary_records_never_stop_the_loop(env: WorkflowEnvironment, records: list[InboundRecord]) -> None:
    for record in records:
        check_handled(env, record)


@pytest.fixture
def mutated(env: WorkflowEnvironment) -> st.SearchStrategy[InboundRecord]:
    """Mutations of seeds aimed at this engine's live workflow (built once per test, not per example)."""
    return Mutator(env.serde, REPO, [SEED_ID, "wf-new"]).records(seeds(env))


@FUZZ
@given(data=st.data())
def test_mutated_valid_records_decode_or_are_dead_lettered(
    env: WorkflowEnvironment, mutated: st.SearchStrategy[InboundRecord], data: st.DataObject
) -> None:
    check_handled(env, data.draw(mutated))


# -- what the fuzzer found, pinned -----------------------------------------------------------------


def test_start_naming_an_unknown_input_schema_is_dead_lettered(env: WorkflowEnvironment) -> None:
    """Was: SchemaNotFoundError escaped handle(); the redelivered record crashed every restart."""
    start = StartWorkflow(
        workflow_type="order",
        workflow_id="wf-typo",
        input_schema="sagabridge.demo.orders.OrderPlacd",
        input=env.serde.encode(ORDER.avro_schema_name, ORDER),
        requested_at_ms=env.now_ms,
    )
    (dead,) = check_handled(env, env.records.control("wf-typo", start))
    assert dead.header(h.DLQ_REASON) == "unknown-schema"
    assert "input_schema names 'sagabridge.demo.orders.OrderPlacd'" in (dead.header("sb-dlq-error") or "")


def test_query_answered_on_a_topic_from_the_record_is_dead_lettered(env: WorkflowEnvironment) -> None:
    """Was: the answer went to `reply_topic` in the checkpoint transaction; a name the broker
    refuses failed that transaction on every retry and stalled the instance."""
    env.start("order", ORDER, id="wf-q")
    query = QueryWorkflow(workflow_id="wf-q", query_id="q", name="status", reply_topic="bad topic!")
    (dead,) = check_handled(env, env.records.control("wf-q", query))
    assert dead.header(h.DLQ_REASON) == "invalid-record"
