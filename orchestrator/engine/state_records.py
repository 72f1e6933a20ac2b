"""The engine's store records (workflow header, open step) and their Avro encoding.

The schemas `sagabridge.state.WorkflowHeader` and `sagabridge.state.StepState` are the contract;
their generated models (`orchestrator.models.state`) name the fields. `Header` and `StepRecord`
carry exactly those fields (a test holds them to it), with enums for the statuses, the
`RetryPolicy` object for `policy_json` and `ErrorInfo` for `last_error`. They are mutable slots
dataclasses rather than the pydantic models because the engine rewrites them on every step:
validating a model on each store read costs as much again as the Avro decode itself (22 us
against 2 us for the dataclass, `benchmarks/bench_engine_core.py` shows the hot path).
History events (`sagabridge.state.HistoryEvent`) are append-only; their `data` is JSON, except
the one embedded Avro record an event may carry (RECORD_FIELDS): since v2 of the schema that is
stored as the framed bytes the engine already has (a reply's result as received, a command as
sent), not as a JSON copy, so recording a step neither dumps nor parses the command or its result.
Events written before v2 hold it in `data` and decode as before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from orchestrator.engine import jsonvalue
from orchestrator.models.state import HistoryEvent as HistoryEventModel
from orchestrator.models.state import StepState, WorkflowHeader
from orchestrator.serialization import AvroSerde
from orchestrator.workflow.activation import ErrorInfo, EventKind, HistoryEvent
from orchestrator.workflow.policy import RetryPolicy
from orchestrator.workflow.status import WorkflowStatus

HEADER_SCHEMA = WorkflowHeader.avro_schema_name
STEP_SCHEMA = StepState.avro_schema_name
EVENT_SCHEMA = HistoryEventModel.avro_schema_name

# The field of `data` that an event's embedded record (HistoryEvent.record) stands for, by kind.
RECORD_FIELDS: dict[str, str] = {
    EventKind.STARTED: "input",
    EventKind.STEP_SCHEDULED: "payload",
    EventKind.STEP_COMPLETED: "result",
    EventKind.SIGNAL_RECEIVED: "payload",
}


@dataclass(frozen=True, slots=True)
class EmbeddedRecord:
    """An event's Avro record as framed bytes, and the schema it was read as (None: as written).

    The event's data must hold exactly `serde.decode(data, reader).value` in the kind's field
    (RECORD_FIELDS): that is what a replay decodes it to."""

    data: bytes
    reader: str | None


# Before StepState carried them as fields, these four lived inside policy_json under these keys;
# in-flight steps written by such a release still do, so decoding falls back to them.
_LEGACY_POLICY_KEYS = {
    "start_to_close_ms": "sb_start_to_close_ms",
    "schedule_to_close_ms": "sb_schedule_to_close_ms",
    "compensation": "sb_compensation",
    "attempt_base": "sb_attempt_base",
}


class StepStatus(StrEnum):
    """Where an open step is (a settled step has no record)."""

    IN_FLIGHT = "in_flight"  # the current attempt's command is out, its reply awaited
    BACKOFF = "backoff"  # the current attempt failed; the retry timer is set
    PARKED = "parked"  # retries exhausted or a compensation failed: an operator decides


@dataclass  # not slots: vars() is the encoder's field dict, the cheapest there is
class Header:
    """`sagabridge.state.WorkflowHeader`: the small per-workflow record rewritten on every event."""

    workflow_id: str
    workflow_type: str
    status: WorkflowStatus
    next_seq: int
    created_at_ms: int
    updated_at_ms: int
    closed_at_ms: int | None = None
    parked_reason: str | None = None
    trace_context: dict[str, str] = field(default_factory=dict)
    parent_workflow_id: str | None = None
    parent_seq: int | None = None
    run_first_seq: int = 0  # the current run's first history seq (continue_as_new moves it)

    @property
    def finished(self) -> bool:
        return self.status.finished


@dataclass  # not slots, like Header
class StepRecord:
    """`sagabridge.state.StepState`: an open step, what to resend, which attempt is current,
    which deadlines apply."""

    seq: int
    service: str
    command_type: str
    command_id: str
    attempt: int
    status: StepStatus
    first_scheduled_ms: int
    attempt_started_ms: int
    payload: bytes
    policy: RetryPolicy  # stored as policy_json
    start_to_close_ms: int | None
    schedule_to_close_ms: int | None
    compensation: bool
    attempt_base: int = 0  # attempts before the last operator RETRY; the budget counts from here
    next_retry_ms: int | None = None
    last_error: ErrorInfo | None = None
    trace_context: dict[str, str] = field(default_factory=dict)  # current attempt's deferred span

    @property
    def attempts_used(self) -> int:
        return self.attempt - self.attempt_base

    def due_times(self) -> set[int]:
        """Every instant at which this step needs the engine's attention (its `t/` entries)."""
        dues: set[int] = set()
        if self.status == StepStatus.PARKED:
            return dues
        if self.schedule_to_close_ms is not None:
            dues.add(self.first_scheduled_ms + self.schedule_to_close_ms)
        if self.status == StepStatus.IN_FLIGHT and self.start_to_close_ms is not None:
            dues.add(self.attempt_started_ms + self.start_to_close_ms)
        if self.status == StepStatus.BACKOFF and self.next_retry_ms is not None:
            dues.add(self.next_retry_ms)
        return dues


# The schema's fields, from its generated model (tests/engine/test_state_records.py holds the
# records to them, so `vars(record)` is the Avro value).
HEADER_FIELDS = tuple(WorkflowHeader.model_fields)
STEP_FIELDS = tuple(StepState.model_fields)


@lru_cache(maxsize=1024)
def _policy_from_json(policy_json: str) -> RetryPolicy:
    """Policies repeat (one per call site): parse and validate each distinct one once."""
    return RetryPolicy.from_json(json.loads(policy_json))


@lru_cache(maxsize=1024)
def _policy_to_json(policy: RetryPolicy) -> str:
    return json.dumps(policy.to_json(), sort_keys=True)


class StateCodec:
    """Encodes/decodes store values with the engine's serde."""

    def __init__(self, serde: AvroSerde) -> None:
        self._serde = serde

    def encode_header(self, h: Header) -> bytes:
        return self._serde.encode(HEADER_SCHEMA, vars(h))

    def decode_header(self, raw: bytes) -> Header:
        value = self._serde.decode(raw, HEADER_SCHEMA).value
        value["status"] = WorkflowStatus(value["status"])
        return Header(**value)

    def encode_step(self, s: StepRecord) -> bytes:
        value: dict[str, Any] = dict(vars(s))
        value["policy_json"] = _policy_to_json(value.pop("policy"))
        value["last_error"] = None if s.last_error is None else s.last_error.to_avro()
        return self._serde.encode(STEP_SCHEMA, value)

    def decode_step(self, raw: bytes) -> StepRecord:
        value = self._serde.decode(raw, STEP_SCHEMA).value
        policy_json = value.pop("policy_json")
        if _LEGACY_POLICY_KEYS["compensation"] in policy_json:  # written before the fields existed
            legacy = json.loads(policy_json)
            for name, key in _LEGACY_POLICY_KEYS.items():
                if key in legacy:
                    value[name] = legacy[key]
        error = value.pop("last_error")
        return StepRecord(
            policy=_policy_from_json(policy_json),
            last_error=None if error is None else ErrorInfo.from_avro(error),
            **{**value, "status": StepStatus(value["status"])},
        )

    def encode_event(
        self, e: HistoryEvent, data_json: bytes | None = None, record: EmbeddedRecord | None = None
    ) -> bytes:
        """`data_json`: `jsonvalue.dumps` of e.data when the caller already has it (no second dump),
        without the record's field when `record` is given."""
        data = jsonvalue.dumps(e.data) if data_json is None else data_json
        return self._serde.encode(
            EVENT_SCHEMA,
            {
                "seq": e.seq,
                "kind": e.kind,
                "at_ms": e.at_ms,
                "data": data,
                "record": None if record is None else record.data,
                "record_schema": None if record is None else record.reader,
            },
        )

    def decode_event(self, raw: bytes) -> HistoryEvent:
        v = self._serde.decode(raw, EVENT_SCHEMA).value
        kind = v["kind"]
        data = jsonvalue.loads(v["data"])
        record = v.get("record")
        if record is not None:
            data[RECORD_FIELDS[kind]] = self._serde.decode(record, v.get("record_schema")).value
        return HistoryEvent(seq=int(v["seq"]), kind=kind, at_ms=int(v["at_ms"]), data=data)
