"""The engine's store records follow their schemas, and records of earlier releases still decode."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

from orchestrator.engine.state_records import HEADER_FIELDS, STEP_FIELDS, Header, StateCodec, StepRecord, StepStatus
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.serialization.compat import CompatibilityLevel, check_level
from orchestrator.workflow import RetryPolicy, WorkflowStatus
from orchestrator.workflow.activation import ErrorInfo

REPO = SchemaRepository()
CODEC = StateCodec(SingleObjectSerde(REPO))
POLICY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_attempts=5)


def _step(**changes: object) -> StepRecord:
    step = StepRecord(
        seq=4,
        service="payments",
        command_type="sagabridge.demo.payments.ChargePayment",
        command_id="wf-1/4",
        attempt=3,
        status=StepStatus.BACKOFF,
        first_scheduled_ms=10,
        attempt_started_ms=20,
        payload=b"\xc3\x01cmd",
        policy=POLICY,
        start_to_close_ms=5_000,
        schedule_to_close_ms=60_000,
        compensation=True,
        attempt_base=2,
        next_retry_ms=30,
        last_error=ErrorInfo("Declined", "no", True, {"code": "51"}),
        trace_context={"traceparent": "00-x"},
    )
    return dataclasses.replace(step, **changes)  # type: ignore[arg-type]


def test_records_carry_exactly_the_schema_fields() -> None:
    assert tuple(f.name for f in dataclasses.fields(Header)) == HEADER_FIELDS
    step_fields = {f.name for f in dataclasses.fields(StepRecord)}
    assert step_fields - {"policy"} == set(STEP_FIELDS) - {"policy_json"}


def test_header_and_step_round_trip_with_their_enums() -> None:
    header = Header("wf-1", "order", WorkflowStatus.PARKED, 7, 1, 2, None, "step 4", {"a": "b"}, "parent", 3)
    decoded = CODEC.decode_header(CODEC.encode_header(header))
    assert decoded == header and decoded.status is WorkflowStatus.PARKED
    step = _step()
    again = CODEC.decode_step(CODEC.encode_step(step))
    assert again == step and again.status is StepStatus.BACKOFF


def test_step_state_is_backward_compatible_with_v1() -> None:
    v1 = next(e for e in REPO.versions("sagabridge.state.StepState") if e.version == 1)
    current = REPO.entry("sagabridge.state.StepState")
    assert check_level(CompatibilityLevel.BACKWARD, current.parsed, [("v1", v1.parsed)]) == []


def test_a_v1_step_keeps_its_fields_from_policy_json() -> None:
    """v1 kept timeouts, compensation and the attempt base inside policy_json."""
    step = _step()
    policy = {
        **POLICY.to_json(),
        "sb_start_to_close_ms": 5_000,
        "sb_schedule_to_close_ms": 60_000,
        "sb_compensation": True,
        "sb_attempt_base": 2,
    }
    old = {
        name: getattr(step, name)
        for name in ("seq", "service", "command_type", "command_id", "attempt", "first_scheduled_ms")
    }
    old |= {
        "status": "backoff",
        "attempt_started_ms": 20,
        "next_retry_ms": 30,
        "last_error": step.last_error.to_avro() if step.last_error else None,
        "payload": step.payload,
        "policy_json": json.dumps(policy, sort_keys=True),
        "trace_context": {"traceparent": "00-x"},
    }
    v1 = next(e for e in REPO.versions("sagabridge.state.StepState") if e.version == 1)
    raw = _encode_with(v1.fingerprint, v1.parsed, old)
    assert CODEC.decode_step(raw) == step


def _encode_with(fingerprint: bytes, parsed: dict[str, object], value: dict[str, object]) -> bytes:
    import io

    import fastavro

    out = io.BytesIO(b"\xc3\x01" + fingerprint)
    out.seek(0, 2)
    fastavro.schemaless_writer(out, parsed, value)
    return out.getvalue()


def test_a_v1_header_reads_as_a_first_run() -> None:
    """Headers written before continue_as_new have no run_first_seq: their run starts at seq 0."""
    v1 = next(e for e in REPO.versions("sagabridge.state.WorkflowHeader") if e.version == 1)
    current = REPO.entry("sagabridge.state.WorkflowHeader")
    assert check_level(CompatibilityLevel.BACKWARD, current.parsed, [("v1", v1.parsed)]) == []
    header = Header("wf-1", "order", WorkflowStatus.RUNNING, 7, 1, 2)
    old = {name: value for name, value in vars(header).items() if name != "run_first_seq"}
    decoded = CODEC.decode_header(_encode_with(v1.fingerprint, v1.parsed, {**old, "status": "running"}))
    assert decoded == header and decoded.run_first_seq == 0
