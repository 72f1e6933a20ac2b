"""Committed logs written by hand: the records a healthy run leaves, and the doctoring the audit must catch."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Sequence
from typing import Any

from chaos.audit import INJECTED_HEADER
from chaos.committed_log import LoggedRecord, TopicRole
from chaos.run_record import LoadRecord, RunRecord
from chaos.scenario import new_serde
from chaos.sizes import SIZES
from examples.orders.models.orders import OrderPlaced
from examples.orders.services import DECLINED_CUSTOMER_PREFIX
from orchestrator.models.events import (
    ReplyIgnored,
    StepCompleted,
    StepFailed,
    StepRetrying,
    StepScheduled,
    WorkflowCancelled,
    WorkflowCompensated,
    WorkflowCompleted,
    WorkflowParked,
    WorkflowStarted,
)
from orchestrator.models.protocol import StepError
from orchestrator.serialization import AvroModel, AvroSerde
from orchestrator.transport import header_names
from orchestrator.transport.records import InboundRecord, make_headers

APP = "chaos-test"
TYPE = "order-fulfilment"
SERVICES = ("inventory", "payments", "shipping")


@functools.cache
def shared_serde() -> AvroSerde:
    """One serde for every builder: loading the schema repository costs ~1 s, a Hypothesis run builds hundreds."""
    return new_serde()


class LogBuilder:
    """Appends records to the topics of one app; `run()` is the RunRecord that goes with them."""

    def __init__(self) -> None:
        self.serde = shared_serde()
        self.entries: list[LoggedRecord] = []
        self._offsets: Counter[str] = Counter()
        self.sent: list[str] = []
        self.at_ms = 1_700_000_000_000

    @property
    def topics(self) -> dict[str, str]:
        names = {f"{APP}.inbox": "inbox", f"{APP}.events": "events", f"{APP}.dlq": "dlq"}
        return {**names, **{f"{APP}.{s}.commands": "commands" for s in SERVICES}}

    def run(self) -> RunRecord:
        return RunRecord(
            run_id="test",
            started_at="2026-12-01T00:00:00+00:00",
            command="test",
            seed=0,
            size=SIZES["tiny"],
            app=APP,
            partitions=1,
            topics=self.topics,
            instances=["o0"],
            services=list(SERVICES),
            load=LoadRecord(workflow_type=TYPE, started_ids=self.sent),
            drained_s=None,
            error=None,
        )

    # --- raw records ----------------------------------------------------------------------
    def add(
        self, role: TopicRole, topic: str, key: str | None, value: bytes | None, headers: Any = ()
    ) -> InboundRecord:
        offset = self._offsets[topic]
        self._offsets[topic] += 1
        self.at_ms += 10
        record = InboundRecord(
            topic, 0, offset, None if key is None else key.encode(), value, make_headers(headers), self.at_ms
        )
        self.entries.append(LoggedRecord(role, record))
        return record

    def event(self, model: AvroModel) -> None:
        value = self.serde.encode(model.avro_schema_name, model.to_avro())
        self.add(TopicRole.EVENTS, f"{APP}.events", str(model.to_avro()["workflow_id"]), value)

    def _step(self, wf: str, seq: int, service: str, attempt: int) -> dict[str, Any]:
        """The fields every step event carries (the command id is `<workflow id>/<seq>`)."""
        cid = f"{wf}/{seq}"
        return {"seq": seq, "service": service, "command_type": "x", "command_id": cid, "attempt": attempt}

    def _base(self, wf: str) -> dict[str, Any]:
        self.at_ms += 10
        return {"workflow_id": wf, "workflow_type": TYPE, "at_ms": self.at_ms}

    # --- the protocol ---------------------------------------------------------------------
    def start(self, wf: str, declined: bool = False, sent: bool = True) -> InboundRecord:
        customer = f"{DECLINED_CUSTOMER_PREFIX}1" if declined else "customer-1"
        placed = OrderPlaced(order_id=wf, customer_id=customer, sku="s", quantity=1, amount_cents=100, currency="EUR")
        body: dict[str, Any] = {
            "workflow_type": TYPE,
            "workflow_id": wf,
            "input_schema": placed.avro_schema_name,
            "input": self.serde.encode(placed.avro_schema_name, placed.to_avro()),
            "parent_workflow_id": None,
            "parent_seq": None,
            "trace_context": {},
            "requested_at_ms": self.at_ms,
        }
        if sent:
            self.sent.append(wf)
        return self.add(
            TopicRole.INBOX, f"{APP}.inbox", wf, self.serde.encode("sagabridge.control.StartWorkflow", body)
        )

    def started(self, wf: str) -> None:
        self.event(WorkflowStarted(**self._base(wf), input_schema="sagabridge.demo.orders.OrderPlaced"))

    def command(self, wf: str, seq: int, service: str, attempt: int = 1, compensation: bool = False) -> None:
        cid = f"{wf}/{seq}"
        headers = {header_names.WORKFLOW_ID: wf, header_names.COMMAND_ID: cid, header_names.ATTEMPT: str(attempt)}
        self.add(TopicRole.COMMANDS, f"{APP}.{service}.commands", wf, b"command", headers)
        step = self._step(wf, seq, service, attempt)
        self.event(StepScheduled(**self._base(wf), **step, compensation=compensation))

    def reply(
        self, wf: str, seq: int, attempt: int = 1, error_type: str = "", retryable: bool = False, **extra: str
    ) -> InboundRecord:
        failure = {header_names.ERROR_TYPE: error_type, header_names.RETRYABLE: str(retryable).lower()}
        headers = {
            header_names.WORKFLOW_ID: wf,
            header_names.COMMAND_ID: f"{wf}/{seq}",
            header_names.ATTEMPT: str(attempt),
            header_names.REPLY_STATUS: "failure" if error_type else "success",
            **(failure if error_type else {}),
            **extra,
        }
        return self.add(TopicRole.INBOX, f"{APP}.inbox", wf, None, headers)

    def completed(self, wf: str, seq: int, service: str, attempt: int = 1) -> None:
        step = self._step(wf, seq, service, attempt)
        self.event(StepCompleted(**self._base(wf), **step))

    def failed(self, wf: str, seq: int, service: str, error_type: str) -> None:
        step = self._step(wf, seq, service, 1)
        error = StepError(error_type=error_type, message="no", retryable=False)
        self.event(StepFailed(**self._base(wf), **step, error=error))

    def retrying(self, wf: str, seq: int, service: str, attempt: int, error_type: str) -> None:
        step = self._step(wf, seq, service, attempt)
        error = StepError(error_type=error_type, message="again", retryable=True)
        self.event(StepRetrying(**self._base(wf), **step, error=error, retry_at_ms=self.at_ms + 100))

    def ignored(self, wf: str, seq: int, why: str, attempt: int = 1) -> None:
        cid = f"{wf}/{seq}"
        self.event(ReplyIgnored(**self._base(wf), command_id=cid, attempt=attempt, status="success", why=why))

    def cancel(self, wf: str) -> InboundRecord:
        body: dict[str, Any] = {"workflow_id": wf, "reason": "test"}
        value = self.serde.encode("sagabridge.control.CancelWorkflow", body)
        return self.add(TopicRole.INBOX, f"{APP}.inbox", wf, value)

    def garbage(self, value: bytes | None) -> InboundRecord:
        """Bytes no decoder takes, tagged as the injector's garbage (dead-letter it to keep the log healthy)."""
        return self.add(TopicRole.INBOX, f"{APP}.inbox", None, value, {INJECTED_HEADER: "garbage"})

    def dead_letter(self, source: InboundRecord, reason: str) -> None:
        headers = [
            *source.headers,
            ("sb-dlq-reason", reason.encode()),
            ("sb-dlq-source-topic", source.topic.encode()),
            ("sb-dlq-source-partition", str(source.partition).encode()),
            ("sb-dlq-source-offset", str(source.offset).encode()),
        ]
        key = None if source.key is None else source.key.decode()
        self.add(TopicRole.DLQ, f"{APP}.dlq", key, source.value, headers)

    # --- whole sagas ----------------------------------------------------------------------
    def step(self, wf: str, seq: int, service: str, compensation: bool = False, failures: int = 0) -> None:
        """A step that succeeds at attempt `failures + 1`; the attempts before fail transiently or time out."""
        for attempt in range(1, failures + 1):
            self.command(wf, seq, service, attempt, compensation=compensation)
            if attempt % 2:
                self.reply(wf, seq, attempt, error_type="TransientFailure", retryable=True)
                self.retrying(wf, seq, service, attempt, "TransientFailure")
            else:  # no reply in time: the engine's own timer retries it
                self.retrying(wf, seq, service, attempt, "AttemptTimeout")
        self.command(wf, seq, service, failures + 1, compensation=compensation)
        self.reply(wf, seq, failures + 1)
        self.completed(wf, seq, service, failures + 1)

    def completed_saga(self, wf: str, declined: bool = False, failures: Sequence[int] = (0, 0, 0)) -> None:
        self.start(wf, declined=declined)
        self.started(wf)
        for seq, service in enumerate(SERVICES):
            self.step(wf, seq, service, failures=failures[seq])
        self.event(WorkflowCompleted(**self._base(wf)))

    def declined_saga(self, wf: str, compensate: bool = True) -> None:
        """Reserved, then the payment is declined: the reservation is released."""
        self.start(wf, declined=True)
        self.started(wf)
        self.step(wf, 0, "inventory")
        self.command(wf, 1, "payments")
        self.reply(wf, 1, error_type="PaymentDeclined")
        self.failed(wf, 1, "payments", "PaymentDeclined")
        if compensate:
            self.step(wf, 2, "inventory", compensation=True)
        self.event(WorkflowCompensated(**self._base(wf)))

    def cancelled_saga(self, wf: str, completed_steps: int = 1) -> None:
        """Cancelled after `completed_steps` forward steps: each is compensated, newest first."""
        self.start(wf)
        self.started(wf)
        for seq in range(completed_steps):
            self.step(wf, seq, SERVICES[seq])
        self.cancel(wf)
        for n, seq in enumerate(reversed(range(completed_steps))):
            self.step(wf, completed_steps + n, SERVICES[seq], compensation=True)
        self.event(WorkflowCancelled(**self._base(wf), reason="test"))

    def parked(self, wf: str) -> None:
        self.event(WorkflowParked(**self._base(wf), reason="retries exhausted", seq=0))

    def injected(self, record: InboundRecord, kind: str) -> InboundRecord:
        """The same record again, tagged as the bad-input injector tags its records."""
        headers = [*record.headers, (INJECTED_HEADER, kind.encode())]
        key = None if record.key is None else record.key.decode()
        return self.add(TopicRole.INBOX, record.topic, key, record.value, headers)

    def ghost_reply(self) -> InboundRecord:
        """A reply for a workflow that never existed, tagged as the injector's unknown-workflow."""
        headers = {
            header_names.WORKFLOW_ID: "ghost",
            header_names.COMMAND_ID: "ghost/0",
            header_names.ATTEMPT: "1",
            header_names.REPLY_STATUS: "success",
            INJECTED_HEADER: "unknown-workflow",
        }
        return self.add(TopicRole.INBOX, f"{APP}.inbox", "ghost", None, headers)
