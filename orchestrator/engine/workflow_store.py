"""Typed access to one partition's workflow records through a StateTxn.

Only this module knows the key layout's use: header, append-only history, in-flight steps,
the due-time timer index and the retention index.
"""

from __future__ import annotations

from typing import Any

from orchestrator.engine import jsonvalue, keys
from orchestrator.engine.state_records import RECORD_FIELDS, EmbeddedRecord, Header, StateCodec, StepRecord
from orchestrator.engine.state_txn import StateTxn
from orchestrator.workflow.activation import HistoryEvent

TIMER_WORKFLOW = b"t"  # a workflow timer (StartTimer): fires TIMER_FIRED
TIMER_STEP = b"s"  # a step deadline or retry: the step is re-evaluated at that time


class WorkflowStore:
    """One turn's typed view of the partition's records.

    The header is rewritten by every event of a turn (next_seq, updated_at_ms), but only its last
    value reaches the checkpoint's buffer (one changelog record per key), so `put_header` only
    marks it and `write_headers` encodes each marked header once, when the turn is done: a 3-step
    workflow's step used to encode its header three times for one surviving value.
    """

    __slots__ = ("_unwritten", "codec", "txn")

    def __init__(self, txn: StateTxn, codec: StateCodec) -> None:
        self.txn = txn
        self.codec = codec
        self._unwritten: dict[str, Header] = {}

    # --- header -------------------------------------------------------------------------------
    def header(self, workflow_id: str) -> Header | None:
        if workflow_id in self._unwritten:  # read your writes: encode it now, read it back as usual
            self._write_header(self._unwritten.pop(workflow_id))
        raw = self.txn.get(keys.header_key(workflow_id))
        return None if raw is None else self.codec.decode_header(raw)

    def put_header(self, header: Header) -> None:
        """Mark `header` as this turn's value of its record; written (as it is then) by `write_headers`."""
        self._unwritten[header.workflow_id] = header

    def write_headers(self) -> None:
        """Encode and buffer every header marked this turn; the engine calls it before the turn's
        writes are flushed to the checkpoint."""
        for header in self._unwritten.values():
            self._write_header(header)
        self._unwritten.clear()

    def _write_header(self, header: Header) -> None:
        self.txn.put(keys.header_key(header.workflow_id), self.codec.encode_header(header))

    # --- history ------------------------------------------------------------------------------
    def append(
        self, header: Header, kind: str, at_ms: int, data: dict[str, Any], record: EmbeddedRecord | None = None
    ) -> HistoryEvent:
        """Append one event at header.next_seq and advance it (the caller writes the header).

        The returned event carries the JSON round-tripped data, exactly what a replay will see
        (parsed back only when the round trip changes something, `jsonvalue.is_plain`); the JSON
        is written once and those very bytes are stored. `record`: the bytes that the
        kind's record field of `data` was decoded from (EmbeddedRecord), stored instead of its JSON;
        that field's value is passed on as it is, which is what a replay decodes from the bytes.
        """
        if record is None:
            fields = data
        else:
            field = RECORD_FIELDS[kind]
            fields = {k: v for k, v in data.items() if k != field}
        data_json = jsonvalue.dumps(fields)
        # plain JSON values come back unchanged: parse only data that the round trip would change
        # (`fields` is already this call's own dict when a record was taken out of it: no second copy)
        if jsonvalue.is_plain(fields):
            stored = dict(fields) if record is None else fields
        else:
            stored = jsonvalue.loads(data_json)
        if record is not None:
            stored[field] = data[field]
        event = HistoryEvent(seq=header.next_seq, kind=kind, at_ms=at_ms, data=stored)
        # a new seq: no key of it exists (purge deletes them all, and a deleted key is not new again
        # within the checkpoint that deleted it, write_buffer.py)
        encoded = self.codec.encode_event(event, data_json, record)
        self.txn.put_new(keys.history_key(header.workflow_id, event.seq), encoded)
        header.next_seq += 1
        header.updated_at_ms = max(header.updated_at_ms, at_ms)
        return event

    def delete_history(self, workflow_id: str, first_seq: int, end_seq: int) -> None:
        """Delete the history events [first_seq, end_seq) of a run that continued as new (keys
        computed, not scanned: a run's seqs are contiguous)."""
        for seq in range(first_seq, end_seq):
            self.txn.delete(keys.history_key(workflow_id, seq))

    def history(self, workflow_id: str, first_seq: int = 0) -> list[HistoryEvent]:
        """The events from `first_seq` on: pass the header's `run_first_seq`, so a run that continued
        as new is read from its own first key, not through the tombstones of the runs before it."""
        start, end = keys.history_range(workflow_id)
        if first_seq:
            start = keys.history_key(workflow_id, first_seq)
        return [self.codec.decode_event(raw) for _, raw in self.txn.scan(start, end)]

    # --- steps --------------------------------------------------------------------------------
    def step(self, workflow_id: str, seq: int) -> StepRecord | None:
        raw = self.txn.get(keys.step_key(workflow_id, seq))
        return None if raw is None else self.codec.decode_step(raw)

    def steps(self, workflow_id: str, first_seq: int = 0) -> list[StepRecord]:
        """Open steps from `first_seq` on: pass the header's `run_first_seq` (no step of the current
        run is older), so the scan skips the deleted records of the runs before it."""
        start, end = keys.step_range(workflow_id)
        if first_seq:
            start = keys.step_key(workflow_id, first_seq)
        return [self.codec.decode_step(raw) for _, raw in self.txn.scan(start, end)]

    def put_step(self, workflow_id: str, step: StepRecord, previous: StepRecord | None) -> None:
        """Write the step and move its `t/` entries from the previous deadlines to the new ones.

        `previous` None: a step just scheduled, whose keys are new (`put_new`), so a step settled
        within the checkpoint that scheduled it leaves no record and no tombstone behind."""
        txn = self.txn
        new = step.due_times()
        old = set() if previous is None else previous.due_times()
        for due in old - new:
            txn.delete(keys.timer_key(due, workflow_id, step.seq))
        for due in new - old:  # a deadline this step never had: new too
            txn.put_new(keys.timer_key(due, workflow_id, step.seq), TIMER_STEP)
        write = txn.put_new if previous is None else txn.put
        write(keys.step_key(workflow_id, step.seq), self.codec.encode_step(step))

    def delete_step(self, workflow_id: str, step: StepRecord) -> None:
        for due in step.due_times():
            self.txn.delete(keys.timer_key(due, workflow_id, step.seq))
        self.txn.delete(keys.step_key(workflow_id, step.seq))

    # --- workflow timers ----------------------------------------------------------------------
    def add_timer(self, workflow_id: str, seq: int, due_ms: int) -> None:
        self.txn.put_new(keys.timer_key(due_ms, workflow_id, seq), TIMER_WORKFLOW)  # a new seq

    def delete_timer(self, workflow_id: str, seq: int, due_ms: int) -> None:
        self.txn.delete(keys.timer_key(due_ms, workflow_id, seq))

    def due_timers(self, now_ms: int, limit: int) -> list[tuple[bytes, keys.TimerKey, bytes]]:
        start, end = keys.timers_due_range(now_ms)
        out: list[tuple[bytes, keys.TimerKey, bytes]] = []
        for key, value in self.txn.scan(start, end):
            out.append((key, keys.parse_timer_key(key), value))
            if len(out) >= limit:
                break
        return out

    def first_timer_due(self) -> int | None:
        for key, _ in self.txn.scan(keys.TIMER, keys.prefix_end(keys.TIMER)):
            return keys.parse_timer_key(key).due_ms
        return None

    # --- retention ----------------------------------------------------------------------------
    def add_retention(self, workflow_id: str, finished_ms: int) -> None:
        self.txn.put(keys.retention_key(finished_ms, workflow_id), b"")

    def expired(self, finished_at_or_before_ms: int, limit: int) -> list[keys.RetentionKey]:
        start, end = keys.retention_range(finished_at_or_before_ms)
        out: list[keys.RetentionKey] = []
        for key, _ in self.txn.scan(start, end):
            out.append(keys.parse_retention_key(key))
            if len(out) >= limit:
                break
        return out

    def first_retention_finish(self) -> int | None:
        for key, _ in self.txn.scan(keys.RETENTION, keys.prefix_end(keys.RETENTION)):
            return keys.parse_retention_key(key).finished_ms
        return None

    def purge(self, workflow_id: str, finished_ms: int) -> int:
        """Delete every key of a finished workflow; returns how many keys were deleted."""
        self._unwritten.pop(workflow_id, None)
        doomed: list[bytes] = [keys.header_key(workflow_id), keys.retention_key(finished_ms, workflow_id)]
        for start, end in (keys.history_range(workflow_id), keys.step_range(workflow_id)):
            doomed.extend(key for key, _ in self.txn.scan(start, end))
        for step in self.steps(workflow_id):
            doomed.extend(keys.timer_key(due, workflow_id, step.seq) for due in step.due_times())
        for key in doomed:
            self.txn.delete(key)
        return len(doomed)
