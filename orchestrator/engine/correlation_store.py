"""Store layout of durable correlation: processed message ids and the early-signal buffer.

Same store, same changelog, same partitioning as the workflows (the keys start with the workflow
id's escaped form, like every other key), so no new store and no locks:

| key | value |
|---|---|
| `m/<wf>/<message id>` | empty: this message id was applied to this workflow |
| `b/<wf>/<inbox offset:020d>` | Avro `sagabridge.state.BufferedSignal` |
| `t/<expires ms>/<wf>/<inbox offset>` = `b` | the buffer entry's TTL in the engine's timer index |

Message ids live as long as their workflow (purged with it); a buffered signal's id goes with
the entry when it expires (it was never applied).
"""

from __future__ import annotations

from orchestrator.engine import keys
from orchestrator.engine.state_txn import StateTxn
from orchestrator.models.state import BufferedSignal
from orchestrator.serialization import AvroSerde, decode_model

MESSAGE = b"m/"
BUFFER = b"b/"
TIMER_BUFFER = b"b"  # timer index kind: a buffered signal's TTL
_OFFSET_WIDTH = 20


def message_key(workflow_id: str, message_id: str) -> bytes:
    return MESSAGE + f"{keys.escape_id(workflow_id)}/{keys.escape_id(message_id)}".encode()


def message_range(workflow_id: str) -> tuple[bytes, bytes]:
    prefix = MESSAGE + keys.escape_id(workflow_id).encode()
    return prefix + b"/", prefix + b"0"


def buffer_key(workflow_id: str, inbox_offset: int) -> bytes:
    return BUFFER + f"{keys.escape_id(workflow_id)}/{inbox_offset:0{_OFFSET_WIDTH}d}".encode()


def buffer_range(workflow_id: str) -> tuple[bytes, bytes]:
    prefix = BUFFER + keys.escape_id(workflow_id).encode()
    return prefix + b"/", prefix + b"0"


class CorrelationStore:
    def __init__(self, txn: StateTxn, serde: AvroSerde) -> None:
        self.txn = txn
        self.serde = serde

    # --- message ids --------------------------------------------------------------------------
    def seen(self, workflow_id: str, message_id: str) -> bool:
        return self.txn.get(message_key(workflow_id, message_id)) is not None

    def remember(self, workflow_id: str, message_id: str) -> None:
        self.txn.put(message_key(workflow_id, message_id), b"")

    def forget(self, workflow_id: str, message_id: str) -> None:
        self.txn.delete(message_key(workflow_id, message_id))

    # --- the early-signal buffer --------------------------------------------------------------
    def buffer(self, entry: BufferedSignal) -> None:
        wf = entry.workflow_id
        self.txn.put(buffer_key(wf, entry.inbox_offset), self.serde.encode(BufferedSignal.avro_schema_name, entry))
        self.txn.put(keys.timer_key(entry.expires_at_ms, wf, entry.inbox_offset), TIMER_BUFFER)

    def buffered(self, workflow_id: str) -> list[BufferedSignal]:
        """In inbox offset order: the order the signals arrived in."""
        start, end = buffer_range(workflow_id)
        return [decode_model(self.serde, raw, BufferedSignal) for _, raw in self.txn.scan(start, end)]

    def count(self, workflow_id: str, limit: int) -> int:
        start, end = buffer_range(workflow_id)
        n = 0
        for _ in self.txn.scan(start, end):
            n += 1
            if n >= limit:
                break
        return n

    def entry(self, workflow_id: str, inbox_offset: int) -> BufferedSignal | None:
        raw = self.txn.get(buffer_key(workflow_id, inbox_offset))
        return None if raw is None else decode_model(self.serde, raw, BufferedSignal)

    def remove(self, entry: BufferedSignal) -> None:
        """Drop the entry and its TTL timer (delivered or expired)."""
        self.txn.delete(buffer_key(entry.workflow_id, entry.inbox_offset))
        self.txn.delete(keys.timer_key(entry.expires_at_ms, entry.workflow_id, entry.inbox_offset))

    # --- retention ----------------------------------------------------------------------------
    def purge(self, workflow_id: str) -> int:
        """Delete the message ids (and any stray buffer entries) of a purged workflow."""
        doomed: list[bytes] = []
        for start, end in (message_range(workflow_id), buffer_range(workflow_id)):
            doomed.extend(key for key, _ in self.txn.scan(start, end))
        for key in doomed:
            self.txn.delete(key)
        return len(doomed)


__all__ = ["TIMER_BUFFER", "CorrelationStore", "buffer_key", "message_key"]
