"""Fuzzing the worker SDK's command decoding: whatever arrives, the service loop keeps going.

`Service.handle` is the loop's step for one command record. For arbitrary bytes, headers and keys
and for structure-aware mutations of valid commands (tests/serialization/mutations.py), in both
framings, it returns, and either

- answers with a protocol reply: to the command's `sb-reply-to` (a topic name the broker accepts),
  keyed and echoed as docs/protocol.md says, its body a result record or a StepError (a body that
  is not a command this service reads is a permanent failure, so the orchestrator stops retrying
  it), or
- declines the record (`unanswerable` says why), which the loop dead-letters untouched.

No broker needed: the service is driven without its consumer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from examples.orders.models.payments import ChargePayment, PaymentCharged, PaymentRefunded, RefundPayment
from orchestrator.errors import DecodeError
from orchestrator.serialization import AvroSerde, SchemaRepository
from orchestrator.topic_names import topic_name_problem
from orchestrator.transport import header_names as h
from orchestrator.transport.header_values import parse_number
from orchestrator.transport.records import InboundRecord, header_value, make_headers
from orchestrator.worker import CommandContext, NonRetryableError, Service
from orchestrator.worker.service import unanswerable
from tests.serialization.mutations import FRAMINGS, FUZZ, Mutator, arbitrary_batches, fuzz_serde

REPO = SchemaRepository()
COMMANDS = "payments.commands"
DLQ = "app.dlq"
RESULTS = {PaymentCharged.avro_schema_name, PaymentRefunded.avro_schema_name}
STEP_ERROR = "sagabridge.protocol.StepError"


class Declined(NonRetryableError):
    pass


def payments(serde: AvroSerde) -> Service:
    service = Service("payments", "127.0.0.1:1", serde, command_topic=COMMANDS, dlq_topic=DLQ)

    @service.handler(ChargePayment)
    def charge(cmd: ChargePayment, ctx: CommandContext) -> PaymentCharged:
        if cmd.customer_id == "declined":
            raise Declined("card declined")
        if cmd.customer_id == "boom":
            raise ValueError("a handler bug")
        return PaymentCharged(payment_id=f"p-{ctx.command_id}", order_id=cmd.order_id, amount_cents=cmd.amount_cents)

    @service.handler(RefundPayment)
    async def refund(cmd: RefundPayment, ctx: CommandContext) -> PaymentRefunded:
        await asyncio.sleep(0)
        return PaymentRefunded(payment_id=cmd.payment_id, refund_id=f"r-{ctx.attempt}")

    return service


@pytest.fixture(params=FRAMINGS)
def service(request: pytest.FixtureRequest) -> Iterator[Service]:
    # One event loop for all examples (a loop per call would cost more than the handling), and
    # the per-record "cannot be answered" warnings kept out of the captured log.
    quiet = logging.getLogger("orchestrator.worker.service")
    level, quiet.level = quiet.level, logging.ERROR
    with asyncio.Runner() as runner:
        service = payments(fuzz_serde(request.param, REPO))
        service.fuzz_runner = runner  # type: ignore[attr-defined]
        yield service
    quiet.setLevel(level)


def seeds(serde: AvroSerde) -> list[InboundRecord]:
    def command(offset: int, wf: str, model: ChargePayment | RefundPayment, attempt: int = 1) -> InboundRecord:
        headers = make_headers(
            {
                h.WORKFLOW_ID: wf,
                h.COMMAND_ID: f"{wf}/{offset}",
                h.ATTEMPT: str(attempt),
                h.REPLY_TO: "app.inbox",
                h.COMMAND_TYPE: model.avro_schema_name,
                h.TRACEPARENT: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            }
        )
        return InboundRecord(COMMANDS, 0, offset, wf.encode(), serde.encode(model.avro_schema_name, model), headers)

    return [
        command(1, "wf-a", ChargePayment(order_id="o", customer_id="alice", amount_cents=1, currency="EUR")),
        command(2, "wf-b", ChargePayment(order_id="o", customer_id="declined", amount_cents=1, currency="EUR"), 2),
        command(3, "wf-c", ChargePayment(order_id="o", customer_id="boom", amount_cents=1, currency="EUR")),
        command(4, "wf-a", RefundPayment(payment_id="p", order_id="o", amount_cents=1)),
    ]


def check_handled(service: Service, record: InboundRecord) -> None:
    deduplicated = service.stats.deduplicated
    reply = service.fuzz_runner.run(service.handle(record))  # type: ignore[attr-defined]  # must not raise
    problem = unanswerable(record)
    if reply is None:  # the loop dead-letters it (tests/worker/test_service.py checks the DLQ copy)
        assert problem is not None, "a command with every protocol header must be answered"
        return
    assert problem is None
    topic, key, value, headers = reply
    assert topic == record.header(h.REPLY_TO) and topic_name_problem(topic) is None
    assert key == [v for n, v in record.headers if n == h.WORKFLOW_ID][-1]  # the workflow id, byte for byte
    assert header_value(headers, h.WORKFLOW_ID) == record.header(h.WORKFLOW_ID)
    assert header_value(headers, h.COMMAND_ID) == record.header(h.COMMAND_ID)
    assert (parse_number(header_value(headers, h.ATTEMPT)) or 0) >= 1
    body = service.serde.decode(value)
    status = header_value(headers, h.REPLY_STATUS)
    if status == h.STATUS_SUCCESS:
        assert body.schema_name in RESULTS
        return
    assert status == h.STATUS_FAILURE and body.schema_name == STEP_ERROR
    assert header_value(headers, h.RETRYABLE) in ("true", "false") and header_value(headers, h.ERROR_TYPE)
    if service.stats.deduplicated == deduplicated:  # executed now, not answered from the store
        try:
            command = service.serde.decode(record.value or b"")
        except DecodeError:
            assert header_value(headers, h.ERROR_TYPE) == "UndecodableCommand"
            assert header_value(headers, h.RETRYABLE) == "false", "bad bytes stay bad: retrying cannot help"
            return
        if command.schema_name not in (ChargePayment.avro_schema_name, RefundPayment.avro_schema_name):
            assert header_value(headers, h.ERROR_TYPE) == "UnknownCommand"
            assert header_value(headers, h.RETRYABLE) == "false"


ARBITRARY = arbitrary_batches(COMMANDS, REPO, ["wf-a"])


@FUZZ
@given(records=ARBITRARY)
def test_arbitrary_records_never_stop_the_service(service: Service, records: list[InboundRecord]) -> None:
    for record in records:
        check_handled(service, record)


@pytest.fixture
def mutated(service: Service) -> st.SearchStrategy[InboundRecord]:
    return Mutator(service.serde, REPO, ["wf-a", "wf-b", "wf-c"]).records(seeds(service.serde))


@FUZZ
@given(data=st.data())
def test_mutated_commands_are_answered_or_dead_lettered(
    service: Service, mutated: st.SearchStrategy[InboundRecord], data: st.DataObject
) -> None:
    check_handled(service, data.draw(mutated))


# -- what the fuzzer found, pinned -----------------------------------------------------------------


@pytest.mark.parametrize(("attempt", "reply_to"), [("x", "app.inbox"), ("0", "app.inbox"), ("1", "bad topic!")])
def test_garbled_attempt_or_reply_topic_is_declined_not_raised(service: Service, attempt: str, reply_to: str) -> None:
    """Was: int('x') raised out of handle() and stopped the service; a reply topic the broker
    refuses failed every flush. Both are now declined, and the loop dead-letters them."""
    (seed, *_) = seeds(service.serde)
    headers = tuple((n, v) for n, v in seed.headers if n not in (h.ATTEMPT, h.REPLY_TO))
    record = InboundRecord(
        COMMANDS, 0, 9, seed.key, seed.value, headers + make_headers({h.ATTEMPT: attempt, h.REPLY_TO: reply_to})
    )
    assert service.fuzz_runner.run(service.handle(record)) is None  # type: ignore[attr-defined]
    assert (attempt if attempt != "1" else "bad topic!") in (unanswerable(record) or "")
