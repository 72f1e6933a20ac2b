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

from examples.orders import SCHEMAS_DIR as DEMO_SCHEMAS_DIR
from examples.orders.models.orders import OrderPlaced
from tests.integration.apps import registry
from tests.integration.harness import App, EventLog, OrchestratorThread, read_committed

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def _load(name: str, root: Path = SCHEMAS) -> dict[str, Any]:
    path = root.joinpath(*name.split(".")).with_suffix(".avsc")
    parsed = fastavro.parse_schema(json.loads(path.read_text()))
    assert isinstance(parsed, dict)
    return parsed


def _fp(schema: dict[str, Any]) -> bytes:
    # §5: C3 01 + 8-byte little-endian CRC-64-AVRO of the Parsing Canonical Form. fastavro's hex
    # string already lists those bytes in little-endian order (it is not the integer's hex).
    return bytes.fromhex(fingerprint(to_parsing_canonical_form(schema), "CRC-64-AVRO"))


class PlainInventory:
    """Handles ReserveStock/ReleaseStock; declines SKU 'out-of-stock' permanently.

    Follows the page: answerable headers or the DLQ (§2, §7), outcomes stored per command id and
    replayed with the attempt of the delivery they answer (§4), flagged commands it never ran
    declined and remembered (§6), one record at a time in partition order (§1).
    """

    def __init__(self, bootstrap: str, topic: str, dlq: str) -> None:
        names = ["ReserveStock", "StockReserved", "ReleaseStock", "StockReleased"]
        self.schemas = {n: _load(f"sagabridge.demo.inventory.{n}", DEMO_SCHEMAS_DIR) for n in names}
        self.schemas["StepError"] = _load("sagabridge.protocol.StepError")
        self.by_fp = {_fp(s): n for n, s in self.schemas.items()}
        self.dlq = dlq
        self.done: dict[str, tuple[bytes, list[tuple[str, bytes]]]] = {}  # command id -> stored outcome
        self.executed: list[str] = []
        self.seen: list[tuple[str, str, str | None]] = []  # (command id, attempt, sb-cancel-requested)
        self.stop = threading.Event()
        self.paused = threading.Event()  # "the service is down": nothing is consumed
        self.idle = threading.Event()  # set by the loop once it honours `paused`
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

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]] | None:
        if data is None or data[:2] != b"\xc3\x01" or data[2:10] not in self.by_fp:
            return None
        name = self.by_fp[data[2:10]]
        return name, fastavro.schemaless_reader(io.BytesIO(data[10:]), self.schemas[name])  # type: ignore[return-value]

    def failure(self, error_type: str, message: str) -> tuple[bytes, list[tuple[str, bytes]]]:
        value = self.encode(
            "StepError", {"error_type": error_type, "message": message, "retryable": False, "details": {}}
        )
        headers = [
            ("sb-reply-status", b"failure"),
            ("sb-error-type", error_type.encode()),
            ("sb-error-message", message.encode()),
            ("sb-retryable", b"false"),
        ]
        return value, headers

    def execute(self, command_id: str, data: bytes | None) -> tuple[bytes, list[tuple[str, bytes]]]:
        decoded = self.decode(data)
        if decoded is None:
            return self.failure("UndecodableCommand", "not a record of ours")
        self.executed.append(command_id)
        name, cmd = decoded
        if name == "ReserveStock" and cmd["sku"] == "out-of-stock":
            return self.failure("OutOfStock", "none left")
        if name == "ReserveStock":
            reserved = {"reservation_id": f"R-{command_id}", "order_id": cmd["order_id"]}
            return self.encode("StockReserved", reserved), [("sb-reply-status", b"success")]
        if name == "ReleaseStock":
            released = {"reservation_id": cmd["reservation_id"]}
            return self.encode("StockReleased", released), [("sb-reply-status", b"success")]
        return self.failure("UnknownCommand", f"inventory does not handle {name}")

    def handle(self, msg: Any) -> None:
        raw = dict(msg.headers() or [])
        hdr = {k: v.decode() for k, v in raw.items()}
        answerable = all(hdr.get(n) for n in ("sb-workflow-id", "sb-command-id", "sb-reply-to", "sb-attempt"))
        if not answerable or not hdr["sb-attempt"].isdigit() or int(hdr["sb-attempt"]) < 1:  # §7
            dlq_headers = [
                ("sb-dlq-reason", b"missing-protocol-headers"),
                ("sb-dlq-source-topic", msg.topic().encode()),
                ("sb-dlq-source-partition", str(msg.partition()).encode()),
                ("sb-dlq-source-offset", str(msg.offset()).encode()),
            ]
            self.producer.produce(
                self.dlq, key=msg.key(), value=msg.value(), headers=list(msg.headers() or []) + dlq_headers
            )
            return
        command_id = hdr["sb-command-id"]
        self.seen.append((command_id, hdr["sb-attempt"], hdr.get("sb-cancel-requested")))
        if command_id not in self.done:
            if hdr.get("sb-cancel-requested") == "true":  # §6: never ran, never will
                self.done[command_id] = self.failure("WorkflowCancelled", "declined: the workflow is cancelling")
            else:
                self.done[command_id] = self.execute(command_id, msg.value())
        value, headers = self.done[command_id]
        # §3: keyed by sb-workflow-id, ids echoed byte for byte, the attempt of *this* delivery
        echo = [(n, raw[n]) for n in ("sb-workflow-id", "sb-command-id", "sb-attempt")]
        trace = [(n, raw[n]) for n in ("traceparent", "tracestate") if n in raw]
        self.producer.produce(
            hdr["sb-reply-to"], key=raw["sb-workflow-id"], value=value, headers=echo + headers + trace
        )

    def run(self) -> None:
        while not self.stop.is_set():
            if self.paused.is_set():
                self.idle.set()
                self.stop.wait(0.1)
                continue
            self.idle.clear()
            msg = self.consumer.poll(0.2)
            if msg is None or msg.error() is not None:
                continue
            self.handle(msg)
            self.producer.flush(10)  # commit only after the reply is acknowledged (§4)
            self.consumer.commit(message=msg, asynchronous=False)
        self.consumer.close()


def _order(order_id: str, **changes: Any) -> OrderPlaced:
    ok = OrderPlaced(order_id=order_id, customer_id="c", sku="sku-1", quantity=1, amount_cents=10, currency="EUR")
    return ok.model_copy(update=changes)


def _sent(events: EventLog, workflow_id: str, attempt: int) -> bool:
    return any(e["attempt"] >= attempt for e in events.of(workflow_id, "StepScheduled"))


def test_saga_runs_through_a_participant_built_from_the_protocol_document(
    app: App, kafka_bootstrap: str, events: EventLog
) -> None:
    from tests.integration.services import Behaviour, start_services

    # payments and shipping on the SDK; inventory is the hand-written participant
    others = start_services(app, Behaviour(decline_customers={"mallory"}))
    for svc in others:
        if svc.service.name == "inventory":
            svc.stop()
    plain = PlainInventory(kafka_bootstrap, app.command_topic("inventory"), f"{app.name}.dlq")
    thread = threading.Thread(target=plain.run, daemon=True)
    thread.start()
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        client = app.client()
        client.start("saga", _order("p-1"), workflow_id="plain-ok")
        client.start("saga", _order("p-2", customer_id="mallory"), workflow_id="plain-declined")
        client.start("saga", _order("p-3", sku="out-of-stock"), workflow_id="plain-oos")
        assert events.wait_for(["plain-ok", "plain-declined", "plain-oos"], timeout_s=90) == {
            "plain-ok": "completed",
            "plain-declined": "compensated",
            "plain-oos": "failed",
        }
        (done,) = events.of("plain-ok", "WorkflowCompleted")
        assert done["result_schema"] == "sagabridge.demo.orders.OrderFulfilment"

        # §6: inventory is down when the workflow is cancelled; it comes back and runs the
        # reservation (attempt 1 was sent before the cancel): the workflow must release it.
        plain.paused.set()
        assert plain.idle.wait(10)
        client.start("saga", _order("p-4"), workflow_id="plain-cancel")
        events.wait_until(lambda: _sent(events, "plain-cancel", 1), "the reservation")
        client.cancel("plain-cancel", "customer changed their mind")
        events.wait_until(lambda: _sent(events, "plain-cancel", 2), "the flagged second attempt")
        plain.paused.clear()
        assert events.wait_for(["plain-cancel"], timeout_s=60) == {"plain-cancel": "cancelled"}
    finally:
        orch.stop()
        plain.stop.set()
        thread.join(10)
        for svc in others:
            svc.stop()
    # each command id executed once: reservations, the refusal, and the releases (compensations)
    assert sorted(plain.executed) == [
        "plain-cancel/0",
        "plain-cancel/1",
        "plain-declined/0",
        "plain-declined/2",
        "plain-ok/0",
        "plain-oos/0",
    ]
    reserve_attempts = [(a, flag) for cid, a, flag in plain.seen if cid == "plain-cancel/0"]
    assert reserve_attempts[:2] == [("1", None), ("2", "true")]  # the flagged one answered from the store
    assert {e["why"] for e in events.of("plain-cancel", "ReplyIgnored")} <= {"duplicate"}


def test_the_participant_declines_flagged_commands_and_dead_letters_unanswerable_ones(
    kafka_bootstrap: str, topic_factory: Any
) -> None:
    """The participant side of §6 and §7, driven as the orchestrator would drive it."""
    commands, replies, dlq = topic_factory("commands"), topic_factory("replies"), topic_factory("dlq")
    plain = PlainInventory(kafka_bootstrap, commands, dlq)
    thread = threading.Thread(target=plain.run, daemon=True)
    thread.start()
    body = plain.encode("ReserveStock", {"order_id": "o", "sku": "s", "quantity": 1})
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "partitioner": "murmur2_random"})

    def command(attempt: int, flagged: bool) -> None:
        headers = [
            ("sb-workflow-id", b"wf-9"),
            ("sb-command-id", b"wf-9/4"),
            ("sb-attempt", str(attempt).encode()),
            ("sb-reply-to", replies.encode()),
            ("sb-command-type", b"sagabridge.demo.inventory.ReserveStock"),
        ]
        producer.produce(
            commands, key=b"wf-9", value=body, headers=headers + ([("sb-cancel-requested", b"true")] if flagged else [])
        )

    try:
        producer.produce(commands, key=b"x", value=b"no headers at all")
        command(3, flagged=True)
        command(1, flagged=False)  # an older attempt arriving late: answered the same, never run
        producer.flush(10)
        got = read_committed(kafka_bootstrap, replies)
        dead = read_committed(kafka_bootstrap, dlq)
    finally:
        plain.stop.set()
        thread.join(10)
    assert [(r.header("sb-attempt"), r.header("sb-reply-status"), r.header("sb-error-type")) for r in got] == [
        ("3", "failure", "WorkflowCancelled"),
        ("1", "failure", "WorkflowCancelled"),
    ]
    assert all(r.key == b"wf-9" and r.header("sb-retryable") == "false" for r in got)
    assert plain.executed == []
    (bad,) = dead
    assert bad.value == b"no headers at all" and bad.header("sb-dlq-reason") == "missing-protocol-headers"
