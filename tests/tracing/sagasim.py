"""A scripted saga over the real broker, instrumented only through `orchestrator.tracing`.

Deliberately without the engine (tests/tracing/test_engine_tracing.py covers the engine's own
wiring): this drives by hand the call sequence docs/tracing.md prescribes, so the propagation
contract is tested on its own, with every hop a real Kafka record whose headers carry the context:
orchestrator -> <service>.commands -> service handler -> reply -> inbox -> orchestrator.
Each participant records with its own TracerProvider (own service.name), as separate processes would.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, Producer, TopicPartition
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from orchestrator import tracing
from orchestrator.transport import header_names
from orchestrator.transport.partitioning import PRODUCER_PARTITIONER

Headers = list[tuple[str, bytes]]


def _headers(message: Message) -> Headers:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return [(k, v.encode() if isinstance(v, str) else v) for k, v in pairs if v is not None]


def _header(message: Message, name: str) -> str:
    return next(v.decode() for k, v in _headers(message) if k == name)


class Endpoint:
    """One participant: its provider, a producer, and an assign-only reader of one topic."""

    def __init__(self, name: str, bootstrap: str, topic: str, otlp_endpoint: str | None = None) -> None:
        self.name, self.topic = name, topic
        self.exporter = InMemorySpanExporter()
        self.provider: TracerProvider = tracing.create_tracer_provider(name, exporters=[self.exporter], batch=False)
        if otlp_endpoint is not None:  # also export for real, batched, as a deployed process would
            self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(f"{otlp_endpoint}/v1/traces")))
        self.producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER_PARTITIONER})
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"{name}-{topic}", "enable.auto.commit": False}
        )
        self.consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])

    def produce(self, topic: str, key: str, headers: Headers) -> None:
        self.producer.produce(topic, key=key.encode(), value=b"{}", headers=list(headers))
        assert self.producer.flush(10) == 0

    def next_message(self) -> Message:
        for _ in range(100):
            message = self.consumer.poll(0.2)
            if message is not None and message.error() is None:
                return message
        raise AssertionError(f"{self.name}: no record on {self.topic}")

    def close(self) -> None:
        self.consumer.close()
        self.provider.shutdown()  # flushes the OTLP batch; the in-memory spans stay readable


class Service(Endpoint):
    """Handles one command: a process span continuing the command's trace, a reply send span."""

    def handle_one(self, fail: str | None = None, retryable: bool = True) -> None:
        command = self.next_message()
        key = command.key() or b""
        with (
            tracing.using(self.provider),
            tracing.process_span(
                self.topic,
                headers=_headers(command),
                group=self.name,
                key=key,
                partition=command.partition(),
                offset=command.offset(),
            ) as span,
        ):
            reply_to = _header(command, header_names.REPLY_TO)
            echo = [
                (n, _header(command, n).encode())
                for n in (header_names.WORKFLOW_ID, header_names.COMMAND_ID, header_names.ATTEMPT)
            ]
            status = [(header_names.REPLY_STATUS, b"success")]
            if fail:
                tracing.mark_error(span, fail, "handler failed")
                status = [
                    (header_names.REPLY_STATUS, b"failure"),
                    (header_names.ERROR_TYPE, fail.encode()),
                    (header_names.RETRYABLE, b"true" if retryable else b"false"),
                ]
            with tracing.producer_span(reply_to, key=key) as send:
                self.produce(reply_to, key.decode(), [*echo, *status, *tracing.inject_headers(send)])


class Orchestrator:
    """The engine's side, keeping only what it would persist: dict carriers (run, step attempts)."""

    def __init__(self, bootstrap: str, inbox: str, workflow_id: str, otlp_endpoint: str | None = None) -> None:
        self.bootstrap, self.workflow_id, self.otlp_endpoint = bootstrap, workflow_id, otlp_endpoint
        self.endpoint = Endpoint("orchestrator", bootstrap, inbox, otlp_endpoint)
        self.exporters = [self.endpoint.exporter]
        self.run: dict[str, str] = {}
        self.attempts: dict[tuple[str, int], dict[str, str]] = {}
        self._next_offset = 0

    def restart(self) -> None:
        """A new process: new provider and clients; only the stored carriers survive."""
        self.endpoint.close()
        self.endpoint = Endpoint("orchestrator", self.bootstrap, self.endpoint.topic, self.otlp_endpoint)
        self.endpoint.consumer.assign([TopicPartition(self.endpoint.topic, 0, self._next_offset)])
        self.exporters.append(self.endpoint.exporter)

    def start(self, caller: dict[str, str], first: tuple[str, str, int]) -> None:
        with tracing.using(self.endpoint.provider):
            self.run = tracing.new_root_context(caller)
            with tracing.activation_span(self.run, "Order", self.workflow_id, reason="start"):
                self._send(*first)

    def _send(self, step: str, topic: str, attempt: int) -> None:
        carrier = tracing.open_step_attempt(self.run)
        self.attempts[(step, attempt)] = carrier
        headers = [
            (header_names.WORKFLOW_ID, self.workflow_id.encode()),
            (header_names.COMMAND_ID, f"{self.workflow_id}/{step}".encode()),
            (header_names.ATTEMPT, str(attempt).encode()),
            (header_names.REPLY_TO, self.endpoint.topic.encode()),
            *tracing.inject_headers(carrier),
        ]
        self.endpoint.produce(topic, self.workflow_id, headers)

    def on_reply(
        self,
        step: str,
        topic: str,
        then: tuple[str, str, int] | None = None,
        compensation: bool = False,
        timer_before_then: bool = False,
    ) -> None:
        """Consume one reply, record its attempt span, and (in the same activation) send the next command."""
        reply = self.endpoint.next_message()
        self._next_offset = (reply.offset() or 0) + 1
        attempt = int(_header(reply, header_names.ATTEMPT))
        status = _header(reply, header_names.REPLY_STATUS)
        with (
            tracing.using(self.endpoint.provider),
            tracing.activation_span(
                self.run, "Order", self.workflow_id, reason="reply", record_headers=_headers(reply)
            ),
        ):
            tracing.close_step_attempt(
                self.attempts.pop((step, attempt)),
                step_name=step,
                workflow_type="Order",
                workflow_id=self.workflow_id,
                topic=topic,
                attempt_no=attempt,
                command_id=f"{self.workflow_id}/{step}",
                outcome=status,
                compensation=compensation,
                error_type=_header(reply, header_names.ERROR_TYPE) if status == "failure" else None,
                reply_headers=_headers(reply),
            )
            if then is not None:
                self._send(*then)

    def fire_timer(self, name: str, start_ns: int, then: tuple[str, str, int]) -> None:
        """A durable retry timer fired (recorded after the fact) and the retry goes out."""
        with (
            tracing.using(self.endpoint.provider),
            tracing.activation_span(self.run, "Order", self.workflow_id, reason="timer"),
        ):
            tracing.record_wait(
                self.run, "timer", name, workflow_type="Order", workflow_id=self.workflow_id, start_ns=start_ns
            )
            self._send(*then)

    def finish(self, status: str, error_type: str | None) -> None:
        with tracing.using(self.endpoint.provider):
            tracing.close_run(
                self.run, workflow_type="Order", workflow_id=self.workflow_id, status=status, error_type=error_type
            )
        self.endpoint.close()


@dataclass
class SagaRun:
    spans: list[ReadableSpan]
    trace_id: str
    inbox: str
    topics: dict[str, str]  # service name -> its command topic


SERVICES = ("inventory", "payments", "shipping")


def run_saga(bootstrap: str, topic_factory: Callable[..., str], otlp_endpoint: str | None = None) -> SagaRun:
    """reserve -> charge (fails, retry timer, orchestrator restarts, succeeds) -> ship (fails for good)
    -> compensate: refund, release. Started from a traced client request ("shop-api")."""
    inbox = topic_factory("orders-inbox")
    topics = {name: topic_factory(f"{name}-commands") for name in SERVICES}
    services = {name: Service(name, bootstrap, topic, otlp_endpoint) for name, topic in topics.items()}
    client = Endpoint("shop-api", bootstrap, inbox, otlp_endpoint)
    orch = Orchestrator(bootstrap, inbox, "order-42", otlp_endpoint)
    try:
        with tracing.using(client.provider), tracing.child_span("POST /orders") as request:
            caller = tracing.inject_carrier(request)
        orch.start(caller, first=("reserve", topics["inventory"], 1))
        services["inventory"].handle_one()
        orch.on_reply("reserve", topics["inventory"], then=("charge", topics["payments"], 1))
        services["payments"].handle_one(fail="GatewayTimeout", retryable=True)
        timer_set = time.time_ns()
        orch.on_reply("charge", topics["payments"])
        orch.restart()  # the orchestrator dies while the retry timer is pending
        orch.fire_timer("retry charge", timer_set, then=("charge", topics["payments"], 2))
        services["payments"].handle_one()
        orch.on_reply("charge", topics["payments"], then=("ship", topics["shipping"], 1))
        services["shipping"].handle_one(fail="AddressRejected", retryable=False)
        orch.on_reply("ship", topics["shipping"], then=("refund", topics["payments"], 1))
        services["payments"].handle_one()
        orch.on_reply("refund", topics["payments"], compensation=True, then=("release", topics["inventory"], 1))
        services["inventory"].handle_one()
        orch.on_reply("release", topics["inventory"], compensation=True)
        orch.finish("compensated", "AddressRejected")
    finally:
        for endpoint in (*services.values(), client):
            endpoint.close()
    exporters = [client.exporter, *orch.exporters, *(svc.exporter for svc in services.values())]
    spans = [span for exporter in exporters for span in exporter.get_finished_spans()]
    return SagaRun(spans, format(request.get_span_context().trace_id, "032x"), inbox, topics)
