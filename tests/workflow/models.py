"""Small typed models for the runtime tests (real AvroModel, no schema files needed)."""

from __future__ import annotations

from typing import ClassVar

from orchestrator.serialization.avro_model import AvroModel


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
