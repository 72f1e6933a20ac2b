"""Native participants, outbound: a step's command as the service's own record (topic, key, value, headers).

The engine calls `route()` inside the turn that schedules or retries the step (engine/outbox.py),
so the record is produced in the orchestrator's checkpoint transaction, exactly once per attempt,
like a protocol command. Expressions see:

    {"command": {...the decoded command record...}, "workflow_id": "order-42",
     "command_id": "order-42/3",   # the idempotency key: the same for every retry of the step
     "attempt": 2, "command_type": "sagabridge.demo.payments.ChargePayment", "service": "payments"}

A retried step sends the same mapped record again (same `command_id`): a native service must
tolerate a repeated command, typically by keying its work on a business id it already has (the
order id) or on `command_id` passed in a field or header (docs/bridge.md, "Retries").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from orchestrator.bridge.errors import InvalidFieldError
from orchestrator.bridge.mapping import CommandMapping, Participant, ValueFormat
from orchestrator.bridge.shaping import RecordShaper
from orchestrator.engine.state_records import Header, StepRecord
from orchestrator.errors import SchemaRegistryUnavailableError, SerializationError
from orchestrator.serialization import AvroSerde, SchemaRepository
from orchestrator.transport import header_names
from orchestrator.transport.records import OutboundRecord, make_headers

CE_SPECVERSION = "1.0"


def _json_default(value: object) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class NativeCommandRouter:
    """Implements the engine's CommandRouter for the participants of one or more mapping files."""

    def __init__(
        self,
        participants: Iterable[Participant],
        command_serde: AvroSerde,
        repo: SchemaRepository,
        value_serdes: dict[ValueFormat, AvroSerde] | None = None,
        source: str = "sagabridge",
    ) -> None:
        self._by_service = {p.service: p for p in participants}
        self._command_serde = command_serde
        self._shaper = RecordShaper(repo)
        self._value_serdes = dict(value_serdes or {})
        self._source = source

    @property
    def services(self) -> list[str]:
        """The native participants' service names, sorted."""
        return sorted(self._by_service)

    def mapping(self, service: str, command_type: str) -> CommandMapping | None:
        """The command mapping for a step, or None: that command is a participant-protocol command."""
        participant = self._by_service.get(service)
        return None if participant is None else participant.command_for(command_type)

    def route(
        self, header: Header, step: StepRecord, reply_to: str, trace: list[tuple[str, str]]
    ) -> OutboundRecord | None:
        """The service's own record for the step's current attempt, or None if it is not mapped.

        Runs inside the engine's turn (its record joins the checkpoint transaction), so it is pure
        and raises a DecodeError (MissingFieldError, InvalidFieldError) rather than sending a
        half-built command; the engine dead-letters that command and the step's timeout retries.
        Besides the mapping's headers it always adds `sb-workflow-id`, `sb-command-id`,
        `sb-attempt` and `sb-command-type`, so an operator can trace a command to its step.
        `reply_to` is unused: a native service answers with the events it publishes anyway.
        """
        mapping = self.mapping(step.service, step.command_type)
        if mapping is None:
            return None  # not native, or a command type this participant takes as a protocol command
        ctx = {
            "command": self._command_serde.decode(step.payload, step.command_type).value,
            "workflow_id": header.workflow_id,
            "command_id": step.command_id,
            "attempt": step.attempt,
            "command_type": step.command_type,
            "service": step.service,
        }
        what = f"{step.service} {step.command_type}"
        key = header.workflow_id if mapping.key is None else mapping.key.render(ctx, f"{what} key")
        value = self._value(mapping, mapping.value.evaluate(ctx), what)
        pairs: list[tuple[str, str]] = [
            (name, t.render(ctx, f"{what} header {name}")) for name, t in mapping.headers.items()
        ]
        pairs += [
            (header_names.WORKFLOW_ID, header.workflow_id),
            (header_names.COMMAND_ID, step.command_id),
            (header_names.ATTEMPT, str(step.attempt)),
            (header_names.COMMAND_TYPE, step.command_type),
        ]
        if mapping.cloudevents_type:
            pairs += [
                ("ce_specversion", CE_SPECVERSION),
                ("ce_id", f"{step.command_id}/{step.attempt}"),
                ("ce_type", mapping.cloudevents_type),
                ("ce_source", self._source),
                ("ce_subject", header.workflow_id),
            ]
            if mapping.format is ValueFormat.JSON:
                pairs.append(("content-type", "application/json"))
        pairs += trace
        return OutboundRecord(topic=mapping.topic, key=key.encode(), value=value, headers=make_headers(pairs))

    def _value(self, mapping: CommandMapping, mapped: Any, what: str) -> bytes:
        if mapping.format is ValueFormat.JSON:
            try:
                return json.dumps(mapped, default=_json_default, separators=(",", ":")).encode()
            except (TypeError, ValueError) as exc:
                raise InvalidFieldError(f"{what}: the mapped value is not JSON: {exc}") from exc
        assert mapping.value_schema is not None  # validated by CommandMapping
        serde = self._value_serdes.get(mapping.format)
        if serde is None:
            raise InvalidFieldError(f"{what}: no serde configured for {mapping.format.value}")
        shaped = self._shaper.shape(mapping.value_schema, mapping.value, mapped, f"{what} value")
        try:
            return serde.encode(mapping.value_schema, shaped)
        except SchemaRegistryUnavailableError:
            raise  # transient: the engine aborts the checkpoint and retries
        except SerializationError as exc:  # EncodeError: the mapped value does not fit the service's schema
            raise InvalidFieldError(f"{what}: {exc}") from exc


__all__ = ["NativeCommandRouter"]
