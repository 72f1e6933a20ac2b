"""Bounded memory of answered commands, so a redelivered command is answered, not re-executed.

Keyed by sb-command-id (one step of one workflow, same across its retries). A stored success
or permanent failure answers any later delivery of that id; a stored retryable failure only
answers the same attempt again: the next attempt executes anew (docs/design.md §2).

What is stored is the outcome (status headers and body), not the reply: a replay echoes the
attempt of the delivery it answers, so the orchestrator sees an answer to the attempt it waits
for (docs/protocol.md §4).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from orchestrator.transport.records import Headers


@dataclass(frozen=True)
class StoredReply:
    """The reply once sent for a command id, to answer its redeliveries with."""

    attempt: int  # the attempt that was executed
    final: bool  # success or non-retryable failure
    value: bytes
    status: Headers  # sb-reply-status and, for failures, sb-error-type/-message and sb-retryable


class DedupeStore:
    """LRU of the replies of the last `capacity` command ids."""

    def __init__(self, capacity: int = 100_000) -> None:
        self._capacity = capacity
        self._entries: OrderedDict[str, StoredReply] = OrderedDict()

    def lookup(self, command_id: str, attempt: int) -> StoredReply | None:
        """The stored reply that answers this delivery, or None when the handler must run."""
        stored = self._entries.get(command_id)
        if stored is None:
            return None
        self._entries.move_to_end(command_id)
        if stored.final or stored.attempt == attempt:
            return stored
        return None

    def remember(self, command_id: str, reply: StoredReply) -> None:
        """Store the reply sent for a command id (evicting the oldest beyond capacity)."""
        self._entries[command_id] = reply
        self._entries.move_to_end(command_id)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
