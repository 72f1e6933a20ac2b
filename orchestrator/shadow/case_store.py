"""Cases in a partition's store: a small header per case and its events as append-only keys.

    c/<case>            CaseHeader   events kept, first/last timestamp, duplicate/out-of-order/late counts
    e/<case>/<seq>      CaseEvent    one observation, in arrival order (readers sort by time)
    m/<case>/<msg id>   (empty)      the message ids the case has, to drop a re-published event
    p/clock             PartitionClock  the partition's stream time (latest event timestamp seen)

Like workflow history (design.md §4), an event costs O(1) bytes in the changelog, not O(case).
Works over any `StateTxn` (the checkpoint's PendingTxn, or a restored store for reading), so the
same code applies observations and reads them back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from orchestrator.engine.keys import escape_id, prefix_end, unescape_id
from orchestrator.engine.state_txn import StateTxn
from orchestrator.models.shadow import CaseEvent, CaseHeader, Observation, PartitionClock
from orchestrator.serialization import AvroSerde

CASE = b"c/"
EVENT = b"e/"
MESSAGE = b"m/"
CLOCK = b"p/clock"
_SEQ_WIDTH = 10


class Applied(StrEnum):
    """What applying one observation did to its case."""

    NEW_CASE = "new_case"
    APPENDED = "appended"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class ApplyResult:
    """The outcome of applying one observation, with the flags the counters need."""

    applied: Applied
    out_of_order: bool = False
    late: bool = False


@dataclass(frozen=True)
class StoredEvent:
    """One event of a case as read back (the stored CaseEvent with its observation decoded)."""

    seq: int
    observation: Observation
    out_of_order: bool = False
    late: bool = False


@dataclass(frozen=True)
class StoredCase:
    """A case as read back: its header and its events in time order (arrival order breaks ties)."""

    header: CaseHeader
    events: list[StoredEvent]

    @property
    def case_id(self) -> str:
        """The business key the case is grouped by."""
        return self.header.case_id


def _case_key(case_id: str) -> bytes:
    return CASE + escape_id(case_id).encode()


def _event_key(case_id: str, seq: int) -> bytes:
    return EVENT + f"{escape_id(case_id)}/{seq:0{_SEQ_WIDTH}d}".encode()


def _message_key(case_id: str, message_id: str) -> bytes:
    return MESSAGE + f"{escape_id(case_id)}/{escape_id(message_id)}".encode()


class CaseStore:
    """Reads and writes the cases of one partition through `txn`.

    The partition clock is kept in memory between `flush()`es: the runtime keeps one CaseStore per
    transaction and flushes before producing the changelog, so the clock costs one record per
    checkpoint, not one per event.
    """

    def __init__(self, txn: StateTxn, serde: AvroSerde) -> None:
        self.txn = txn
        self.serde = serde
        self._clock: PartitionClock | None = None
        self._clock_dirty = False

    # -- writes -----------------------------------------------------------------------------
    def apply(self, observation: Observation, grace_ms: int, raw: bytes | None = None) -> ApplyResult:
        """Add one observation to its case: duplicates are dropped, the rest kept and flagged.

        `raw`: the observation's encoded bytes as consumed (stored as they are; else encoded here).
        """
        case_id = observation.case_id
        header = self.header(case_id)
        message_key = _message_key(case_id, observation.message_id)
        if header is not None and self.txn.get(message_key) is not None:
            self._put_header(header.model_copy(update={"duplicates": header.duplicates + 1}))
            return ApplyResult(Applied.DUPLICATE)
        clock = self.clock()
        at = observation.timestamp_ms
        late = clock.observations > 0 and at < clock.stream_time_ms - grace_ms
        out_of_order = header is not None and at < header.last_ms
        seq = 0 if header is None else header.events
        if raw is None:
            raw = self.serde.encode(Observation.avro_schema_name, observation.to_avro())
        event = CaseEvent(seq=seq, observation=raw, out_of_order=out_of_order, late=late)
        self.txn.put(_event_key(case_id, seq), self.serde.encode(CaseEvent.avro_schema_name, event.to_avro()))
        self.txn.put(message_key, b"")
        if header is None:
            header = CaseHeader(case_id=case_id, events=1, first_ms=at, last_ms=at)
        else:
            header = header.model_copy(
                update={
                    "events": header.events + 1,
                    "first_ms": min(header.first_ms, at),
                    "last_ms": max(header.last_ms, at),
                    "out_of_order": header.out_of_order + int(out_of_order),
                    "late": header.late + int(late),
                }
            )
        self._put_header(header)
        self._clock = PartitionClock(stream_time_ms=max(clock.stream_time_ms, at), observations=clock.observations + 1)
        self._clock_dirty = True
        return ApplyResult(Applied.NEW_CASE if seq == 0 else Applied.APPENDED, out_of_order, late)

    def flush(self) -> None:
        """Write the partition clock into the transaction (before its changelog is produced)."""
        if self._clock is not None and self._clock_dirty:
            self.txn.put(CLOCK, self.serde.encode(PartitionClock.avro_schema_name, self._clock.to_avro()))
            self._clock_dirty = False

    def _put_header(self, header: CaseHeader) -> None:
        self.txn.put(_case_key(header.case_id), self.serde.encode(CaseHeader.avro_schema_name, header.to_avro()))

    # -- reads ------------------------------------------------------------------------------
    def header(self, case_id: str) -> CaseHeader | None:
        """The case's header (counts, first/last time), or None when the case is unknown here."""
        raw = self.txn.get(_case_key(case_id))
        return None if raw is None else CaseHeader.from_avro(self.serde.decode(raw, CaseHeader.avro_schema_name).value)

    def clock(self) -> PartitionClock:
        """This partition's stream time (the latest event timestamp it has seen)."""
        if self._clock is None:
            raw = self.txn.get(CLOCK)
            self._clock = (
                PartitionClock(stream_time_ms=0, observations=0)
                if raw is None
                else PartitionClock.from_avro(self.serde.decode(raw, PartitionClock.avro_schema_name).value)
            )
        return self._clock

    def case(self, case_id: str) -> StoredCase | None:
        """The case with its events in time order (arrival order breaks ties), or None."""
        header = self.header(case_id)
        if header is None:
            return None
        start = EVENT + escape_id(case_id).encode() + b"/"
        events = [self._event(raw) for _, raw in self.txn.scan(start, prefix_end(start))]
        return StoredCase(header, _in_time_order(events))

    def cases(self) -> Iterator[StoredCase]:
        """Every case of the partition, streamed (one key scan; a case's events are contiguous)."""
        current: str | None = None
        events: list[StoredEvent] = []
        for key, raw in self.txn.scan(EVENT, prefix_end(EVENT)):
            escaped = key[len(EVENT) :].rsplit(b"/", 1)[0].decode()
            if escaped != current:
                if current is not None:
                    yield from self._emit(unescape_id(current), events)
                current, events = escaped, []
            events.append(self._event(raw))
        if current is not None:
            yield from self._emit(unescape_id(current), events)

    def _emit(self, case_id: str, events: list[StoredEvent]) -> Iterator[StoredCase]:
        header = self.header(case_id)
        if header is not None:
            yield StoredCase(header, _in_time_order(events))

    def _event(self, raw: bytes) -> StoredEvent:
        stored = CaseEvent.from_avro(self.serde.decode(raw, CaseEvent.avro_schema_name).value)
        observation = Observation.from_avro(self.serde.decode(stored.observation, Observation.avro_schema_name).value)
        return StoredEvent(int(stored.seq), observation, stored.out_of_order, stored.late)


def _in_time_order(events: list[StoredEvent]) -> list[StoredEvent]:
    return sorted(events, key=lambda e: (e.observation.timestamp_ms, e.seq))


__all__ = ["Applied", "ApplyResult", "CaseStore", "StoredCase", "StoredEvent"]
