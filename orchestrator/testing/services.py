"""Fake participants: a service declared by a handler or by canned replies.

A fake answers each command attempt the way a real participant would over Kafka: a success
with a result record, a failure (retryable or not), or nothing at all (a service that is down
or lost the command). Its reply reaches the inbox after the declared latency, on the
environment's virtual clock, so attempt timeouts and late replies behave as in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from orchestrator.serialization import AvroModel
from orchestrator.testing.outputs import SentCommand


@dataclass(frozen=True)
class Succeed:
    """Reply success with ``result`` (a model, or a dict with ``schema``; None: no body)."""

    result: AvroModel | Mapping[str, Any] | None = None
    schema: str | None = None


@dataclass(frozen=True)
class Fail:
    """Reply failure. ``retryable=False`` fails the step at once (unless the policy retries nothing anyway)."""

    error_type: str = "Unavailable"
    message: str = "failed by the test"
    retryable: bool = True
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class NoReply:
    """Never answer this attempt: the service is down, or the command was lost."""


Reply = Succeed | Fail | NoReply
HandlerResult = Reply | AvroModel | None
Handler = Callable[[SentCommand], HandlerResult]


def as_reply(value: HandlerResult) -> Reply:
    """A handler may return a model (success with it), None (success without body) or a Reply."""
    if isinstance(value, Succeed | Fail | NoReply):
        return value
    if value is None or isinstance(value, AvroModel):
        return Succeed(value)
    raise TypeError(
        f"a fake service handler must return an AvroModel, None, Succeed, Fail or NoReply, not {type(value).__name__}"
    )


class FakeService:
    """One declared participant: replies from a handler, or canned replies in order.

    ``replies`` are used one per attempt across all commands of the service, in the order the
    commands arrive; when they run out the last one repeats (``[Fail(), Succeed(x)]`` fails the
    first attempt and succeeds from then on). A handler sees every attempt and decides.
    """

    def __init__(
        self,
        name: str,
        handler: Handler | None = None,
        replies: Iterable[HandlerResult] | None = None,
        latency: timedelta = timedelta(0),
    ) -> None:
        if (handler is None) == (replies is None):
            raise ValueError(f"fake service {name!r}: give either a handler or canned replies")
        self.name = name
        self.latency = latency
        self._handler = handler
        self._replies = [] if replies is None else [as_reply(r) for r in replies]
        if replies is not None and not self._replies:
            raise ValueError(f"fake service {name!r}: canned replies must not be empty")
        self.received: list[SentCommand] = []

    def respond(self, command: SentCommand) -> Reply:
        """The reply of this fake to a command (and remember the command)."""
        self.received.append(command)
        if self._handler is not None:
            return as_reply(self._handler(command))
        index = min(len(self.received), len(self._replies)) - 1
        return self._replies[index]
