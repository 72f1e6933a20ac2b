"""A participant written from docs/protocol.md alone: bare confluent_kafka + fastavro, no SDK.

Everything below deliberately avoids orchestrator.* on the participant side, the way a team in
another language would: it reads the .avsc files, frames single-object encoding by hand, and
speaks the headers of the document.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
from pathlib import Path
from typing import Any

import fastavro
from confluent_kafka import Consumer, Producer
from fastavro.schema import fingerprint, to_parsing_canonical_form

from orchestrator.models.demo.orders import OrderPlaced
from tests.integration.apps import registry
from tests.integration.harness import App, EventLog, OrchestratorThread

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _load(name: str) -> dict[str, Any]:
    path = SCHEMAS.joinpath(*name.split(".")).with_suffix(".avsc")
    return fastavro.parse_schema(json.loads(path.read_text()))


def _fp(schema: dict[str, Any]) -> bytes:
    # §5: C3 01 + 8-byte little-endian CRC-64-AVRO of the Parsing Canonical Form. fastavro's hex
    # string already lists those bytes in little-endian order (it is not the integer's hex).
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class PlainInventory:
    """Handles ReserveStock/ReleaseStock; declines SKU 'out-of-stock' permanently."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        names = ["ReserveStock", "StockReserved", "ReleaseStock", "StockReleased"]
        self.schemas = {n: _load(f"sagabridge.demo.inventory.{n}") for n in names}
        self.schemas["StepError"] = _load("sagabridge.protocol.StepError")
        self.by_fp = {_fp(s): n for n, s in self.schemas.items()}
        self.done: dict[str, tuple[bytes, list[tuple[str, bytes]]]] = {}  # command id -> stored reply
        self.executed: list[str] = []
        self.stop = threading.Event()
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"plain-{uuid.uuid4().hex}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe([topic])
        self.producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "partitioner": "murmur2_random"})

    def encode(self, name: str, value: dict[str, Any]) -> bytes:
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.schemas[name], value)
        return b"\xc3\x01" + _fp(self.schemas[name]) + buf.getvalue()

    def decode(self, data: bytes) -> tuple[str, dict[str, Any]]:
        assert data[:2] == b"\xc3\x01"
        name = self.by_fp[data[2:10]]
        return name, fastavro.schemaless_reader(io.BytesIO(data[10:]), self.schemas[name])  # type: ignore[return-value]

    def run(self) -> None:
        while not self.stop.is_set():
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            hdr = {k: v.decode() for k, v in (msg.headers() or [])}
            command_id, reply_to = hdr["sb-command-id"], hdr["sb-reply-to"]
            echo = [
                ("sb-workflow-id", hdr["sb-workflow-id"].encode()),
                ("sb-command-id", command_id.encode()),
                ("sb-attempt", hdr["sb-attempt"].encode()),
            ]
            if command_id not in self.done:
                self.executed.append(command_id)
                name, cmd = self.decode(msg.value())
                if name == "ReserveStock" and cmd["sku"] == "out-of-stock":
                    value = self.encode(
                        "StepError",
                        {"error_type": "OutOfStock", "message": "none left", "retryable": False, "details": {}},
                    )
                    headers = [
                        ("sb-reply-status", b"failure"),
                        ("sb-error-type", b"OutOfStock"),
                        ("sb-error-message", b"none left"),
                        ("sb-retryable", b"false"),
                    ]
                elif name == "ReserveStock":
                    value = self.encode(
                        "StockReserved", {"reservation_id": f"R-{command_id}", "order_id": cmd["order_id"]}
                    )
                    headers = [("sb-reply-status", b"success")]
                else:
                    value = self.encode("StockReleased", {"reservation_id": cmd["reservation_id"]})
                    headers = [("sb-reply-status", b"success")]
                self.done[command_id] = (value, headers)
            value, headers = self.done[command_id]
            self.producer.produce(reply_to, key=hdr["sb-workflow-id"].encode(), value=value, headers=echo + headers)
            self.producer.flush(10)  # commit only after the reply is acknowledged (§4)
            self.consumer.commit(message=msg, asynchronous=False)
        self.consumer.close()


def test_saga_runs_through_a_participant_built_from_the_protocol_document(
    app: App, kafka_bootstrap: str, events: EventLog
) -> None:
    from tests.integration.services import Behaviour, start_services

    # payments and shipping on the SDK; inventory is the hand-written participant
    others = start_services(app, Behaviour(decline_customers={"mallory"}))
    for svc in others:
        if svc.service.name == "inventory":
            svc.stop()
    plain = PlainInventory(kafka_bootstrap, app.command_topic("inventory"))
    thread = threading.Thread(target=plain.run, daemon=True)
    thread.start()
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        client = app.client()
        ok = OrderPlaced(order_id="p-1", customer_id="c", sku="sku-1", quantity=1, amount_cents=10, currency="EUR")
        client.start("saga", ok, workflow_id="plain-ok")
        client.start("saga", ok.model_copy(update={"customer_id": "mallory"}), workflow_id="plain-declined")
        client.start("saga", ok.model_copy(update={"sku": "out-of-stock"}), workflow_id="plain-oos")
        assert events.wait_for(["plain-ok", "plain-declined", "plain-oos"], timeout_s=90) == {
            "plain-ok": "completed",
            "plain-declined": "compensated",
            "plain-oos": "failed",
        }
        (done,) = events.of("plain-ok", "WorkflowCompleted")
        assert done["result_schema"] == "sagabridge.demo.orders.OrderFulfilment"
    finally:
        orch.stop()
        plain.stop.set()
        thread.join(10)
        for svc in others:
            svc.stop()
    # each command id executed once: two reservations, the refusal, and one release (compensation)
    assert sorted(plain.executed) == ["plain-declined/0", "plain-declined/2", "plain-ok/0", "plain-oos/0"]
