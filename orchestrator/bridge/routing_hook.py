"""The connector's routing hook: which effects of an event take place, and what else is written.

Plain bridge connectors have none: every effect takes place. A domain under cutover (shadow
mode's `[shadow.cutover]`, orchestrator/shadow/cutover_router.py) routes each case to the
workflow or leaves it to choreography, relays choreography's events to the topics its services
read, and records its decisions, all in the connector's own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from orchestrator.bridge.events import SourceEvent
from orchestrator.bridge.matching import Effect
from orchestrator.transport.records import InboundRecord, OutboundRecord


class EventRouter(Protocol):
    """What a connector asks before an event's effects take place (cutover's routing is the one implementation)."""

    def start(self) -> None:
        """Before the first record: topics, and what was decided so far."""

    def route(
        self, record: InboundRecord, event: SourceEvent | None, effects: Sequence[Effect]
    ) -> tuple[list[Effect], list[OutboundRecord]]:
        """The effects that take place, and the records to write with them (`event` None: undecodable)."""
        ...

    def poll(self) -> None:
        """Once per loop: pick up new decisions from elsewhere (a new plan)."""

    def on_assign(self) -> None:
        """Partitions were assigned: catch up with what their previous owner decided."""

    def committed(self) -> None:
        """The transaction with this batch's decisions committed."""

    def aborted(self) -> None:
        """It aborted: forget this batch's decisions."""

    def stats_json(self) -> dict[str, object]:
        """The router's counters, for the connector's stats line."""

    def close(self) -> None:
        """Release what start() opened (its mirror of the routing topic)."""


__all__ = ["EventRouter"]
