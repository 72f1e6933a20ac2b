"""Small typed models for the runtime tests, their schemas (tests/workflow/schemas) and the
environment the tests run workflows in (the real engine core, orchestrator.testing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.serialization.avro_model import AvroModel
from orchestrator.testing import WorkflowEnvironment
from orchestrator.workflow import WorkflowRegistry

SCHEMAS = Path(__file__).with_name("schemas")
SERDE = SingleObjectSerde(SchemaRepository(SCHEMAS))  # parsed once for the whole module set
START_MS = 1_700_000_000_000  # the environment's fixed start (WorkflowEnvironment's default)


def environment(registry: WorkflowRegistry, **options: Any) -> WorkflowEnvironment:
    """An in-memory environment over `registry`, encoding against the test schemas."""
    return WorkflowEnvironment(registry, serde=SERDE, start_time=START_MS, **options)


class Order(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Order"
    order_id: str
    amount: int = 1


class Reserve(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Reserve"
    order_id: str


class Reserved(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Reserved"
    reservation_id: str


class Release(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Release"
    reservation_id: str


class Charge(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Charge"
    order_id: str
    amount: int


class Charged(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Charged"
    payment_id: str


class Refund(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Refund"
    payment_id: str


class Ship(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Ship"
    order_id: str


class Approval(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Approval"
    approver: str


class Done(AvroModel):
    avro_schema_name: ClassVar[str] = "test.workflow.Done"
    summary: str
