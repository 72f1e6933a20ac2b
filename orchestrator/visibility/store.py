"""The visibility store's write side: one transaction per ingest batch, offsets included.

A batch is applied in one database transaction that also moves the stored offsets of the events
topic, so the store is always exactly "the projection of the topic up to these offsets":

1. take the store's write lock (`BEGIN IMMEDIATE` on SQLite, the `sb_meta` row on PostgreSQL);
2. read the stored offsets and drop every event below them (a re-read of the topic, another
   ingesting process that got there first): this is what makes ingest idempotent;
3. load the rows the rest touch, fold the events into them (projection.py), write rows, timeline
   entries, search attributes and per-status counts, and the new offsets; commit.

Anything failing rolls the whole batch back; the ingester re-reads it from the stored offsets.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, delete, insert, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError

from orchestrator.visibility import tables as t
from orchestrator.visibility.database import WRITE_OPTION, describe, open_engine
from orchestrator.visibility.errors import StoreFormatError, StoreTimeoutError, VisibilityStoreError
from orchestrator.visibility.projection import (
    OpenStep,
    Projection,
    SourceEvent,
    TimelineEntry,
    WorkflowState,
    attribute_text,
)
from orchestrator.workflow.status import WorkflowStatus

log = logging.getLogger(__name__)
_IN_CHUNK = 500  # ids per IN (...) list: well under SQLite's variable limit


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What one ingest batch did (skipped: events already in the store, a re-read)."""

    applied: int  # events folded into the store
    skipped: int  # events already applied (re-read)
    workflows: int  # rows written


class VisibilityStore:
    """The database behind the visibility API; safe to share between threads (pooled connections)."""

    def __init__(self, url: str, *, statement_timeout_s: float = 10.0) -> None:
        self.url = url
        self.engine: Engine = open_engine(url, statement_timeout_s=statement_timeout_s)
        self.backend = self.engine.dialect.name  # "sqlite" | "postgresql"
        self._insert: Callable[[Table], sqlite.Insert | postgresql.Insert] = (
            sqlite.insert if self.backend == "sqlite" else postgresql.insert
        )
        self._row_upsert = _BulkStatement(self.engine, self._upsert_statement(t.workflows, ("workflow_id",)))
        self._entry_insert = _BulkStatement(self.engine, self._insert(t.timeline).on_conflict_do_nothing())

    @property
    def description(self) -> str:
        """The store's URL without its password, for logs and the status endpoint."""
        return describe(self.url)

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    # --- schema -----------------------------------------------------------------------------------
    def create(self) -> None:
        """Create missing tables and indexes (idempotent); refuse a store of a newer format."""
        with self.errors("create schema"):
            t.metadata.create_all(self.engine)
            with self.write() as conn:
                version = conn.execute(select(t.meta.c.schema_version).where(t.meta.c.id == 1)).scalar()
                if version is None:
                    conn.execute(
                        insert(t.meta).values(
                            id=1,
                            schema_version=t.SCHEMA_VERSION,
                            events_ingested=0,
                            dead_lettered=0,
                            batches=0,
                            updated_at_ms=_now_ms(),
                        )
                    )
                elif version > t.SCHEMA_VERSION:
                    raise StoreFormatError(self.description, int(version), t.SCHEMA_VERSION)
            if self.backend == "postgresql":
                with self.engine.connect() as conn:  # planner statistics for the first queries
                    conn.exec_driver_sql("ANALYZE sb_workflows")
                    conn.commit()

    def drop(self) -> None:
        """Delete everything (rebuild): the next ingest starts from the beginning of the topic."""
        with self.errors("drop schema"):
            t.metadata.drop_all(self.engine)

    # --- connections ------------------------------------------------------------------------------
    def write(self) -> _Transaction:
        """A write transaction: takes the store's write lock, so ingest batches queue."""
        return _Transaction(self.engine, write=True)

    def read(self) -> _Transaction:
        """A read transaction: one snapshot for a row and its timeline."""
        return _Transaction(self.engine, write=False)

    def errors(self, what: str) -> _ErrorScope:
        """Driver errors inside become VisibilityStoreError / StoreTimeoutError naming `what`."""
        return _ErrorScope(self.description, what)

    # --- offsets and counters ---------------------------------------------------------------------
    def offsets(self, topic: str) -> dict[int, int]:
        """Next offset to read per partition of `topic` (absent: from the beginning)."""
        with self.errors("read offsets"), self.read() as conn:
            return _stored_offsets(conn, topic)

    def counters(self) -> dict[str, int]:
        """Ingest totals: events ingested, dead-lettered, batches, last update."""
        with self.errors("read counters"), self.read() as conn:
            row = conn.execute(select(t.meta).where(t.meta.c.id == 1)).mappings().first()
        if row is None:
            return {}
        return {k: int(row[k]) for k in ("events_ingested", "dead_lettered", "batches", "updated_at_ms")}

    # --- the ingest batch -------------------------------------------------------------------------
    def apply_batch(
        self, topic: str, events: Sequence[SourceEvent], positions: Mapping[int, int], dead_lettered: int = 0
    ) -> BatchResult:
        """Fold `events` (in topic order) and move the offsets to `positions` (next offset per
        partition read, covering records that produced no event) in one transaction."""
        with self.errors("apply an ingest batch"), self.write() as conn:
            conn.execute(update(t.meta).where(t.meta.c.id == 1).values(batches=t.meta.c.batches + 1))
            stored = _stored_offsets(conn, topic)
            fresh = [e for e in events if e.offset >= stored.get(e.partition, 0)]
            states = _load_states(conn, {e.workflow_id for e in fresh})
            before = {wf: _Before.of(s) for wf, s in states.items()}
            projection = Projection()
            entries: list[TimelineEntry] = []
            touched: dict[str, WorkflowState] = {}
            for e in fresh:
                state, entry = projection.apply(states.get(e.workflow_id), e)
                if state is not None and entry is not None:
                    states[e.workflow_id] = touched[e.workflow_id] = state
                    entries.append(entry)
            self._row_upsert.run(conn, [state_row(s) for s in touched.values()])
            self._entry_insert.run(conn, [entry_row(e) for e in entries])
            self._write_attributes(conn, touched.values(), before)
            self._write_counts(conn, touched.values(), before)
            moved = [
                {"topic": topic, "partition": p, "next_offset": o} for p, o in positions.items() if o > stored.get(p, 0)
            ]
            if moved:
                self._upsert(conn, t.offsets, moved, ("topic", "partition"))
            conn.execute(
                update(t.meta)
                .where(t.meta.c.id == 1)
                .values(
                    events_ingested=t.meta.c.events_ingested + len(fresh),
                    dead_lettered=t.meta.c.dead_lettered + dead_lettered,
                    updated_at_ms=_now_ms(),
                )
            )
        return BatchResult(len(fresh), len(events) - len(fresh), len(touched))

    def _write_attributes(
        self, conn: Connection, states: Iterable[WorkflowState], before: Mapping[str, _Before]
    ) -> None:
        gone: list[tuple[str, str]] = []
        now: list[dict[str, Any]] = []
        for s in states:
            old = before[s.workflow_id].attributes if s.workflow_id in before else {}
            new = {name: attribute_text(v) for name, v in s.search_attributes.items()}
            gone.extend((s.workflow_id, name) for name in old.keys() - new.keys())
            now.extend(
                {"workflow_id": s.workflow_id, "name": n, "value_text": v, "started_at_ms": s.started_at_ms}
                for n, v in new.items()
                if old.get(n) != v
            )
        if gone:
            a = t.search_attributes
            conn.execute(delete(a).where(tuple_(a.c.workflow_id, a.c.name).in_(gone)))
        if now:
            self._upsert(conn, t.search_attributes, now, ("workflow_id", "name"))

    def _write_counts(self, conn: Connection, states: Iterable[WorkflowState], before: Mapping[str, _Before]) -> None:
        delta: dict[tuple[str, str], int] = {}
        for s in states:
            old = before.get(s.workflow_id)
            new_key = (s.workflow_type, s.status.value)
            old_key = None if old is None else (old.workflow_type, old.status.value)
            if old_key != new_key:
                delta[new_key] = delta.get(new_key, 0) + 1
                if old_key is not None:
                    delta[old_key] = delta.get(old_key, 0) - 1
        rows = [{"workflow_type": k[0], "status": k[1], "n": n} for k, n in sorted(delta.items()) if n]
        if rows:
            ins = self._insert(t.status_counts)
            conn.execute(
                ins.on_conflict_do_update(
                    index_elements=["workflow_type", "status"], set_={"n": t.status_counts.c.n + ins.excluded.n}
                ),
                rows,
            )
            conn.execute(delete(t.status_counts).where(t.status_counts.c.n == 0))

    def _upsert_statement(self, table: Table, keys: Sequence[str]) -> Any:
        ins = self._insert(table)
        updates = {c.name: ins.excluded[c.name] for c in table.columns if c.name not in keys}
        return ins.on_conflict_do_update(index_elements=list(keys), set_=updates)

    def _upsert(self, conn: Connection, table: Table, rows: list[dict[str, Any]], keys: Sequence[str]) -> None:
        conn.execute(self._upsert_statement(table, keys), rows)

    # --- bulk loading (benchmarks, tests) ----------------------------------------------------------
    def insert_rows(
        self, states: Sequence[WorkflowState], entries: Sequence[TimelineEntry], counts: Mapping[tuple[str, str], int]
    ) -> None:
        """Write fresh rows as ingest would, without the per-batch reads (a store being filled)."""
        with self.errors("bulk insert"), self.write() as conn:
            if states:
                conn.execute(insert(t.workflows), [state_row(s) for s in states])
            if entries:
                conn.execute(insert(t.timeline), [entry_row(e) for e in entries])
            attrs = [
                {
                    "workflow_id": s.workflow_id,
                    "name": n,
                    "value_text": attribute_text(v),
                    "started_at_ms": s.started_at_ms,
                }
                for s in states
                for n, v in s.search_attributes.items()
            ]
            if attrs:
                conn.execute(insert(t.search_attributes), attrs)
            if counts:
                ins = self._insert(t.status_counts)
                conn.execute(
                    ins.on_conflict_do_update(
                        index_elements=["workflow_type", "status"], set_={"n": t.status_counts.c.n + ins.excluded.n}
                    ),
                    [{"workflow_type": k[0], "status": k[1], "n": n} for k, n in counts.items()],
                )

    def analyze(self) -> None:
        """Refresh planner statistics after a bulk load."""
        with self.errors("analyze"), self.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()


class _BulkStatement:
    """A statement compiled once for the store's dialect and run through the driver's executemany:
    the ingest batch's hot path (a row per workflow, an entry per event) without SQLAlchemy's
    per-row parameter processing. Still the one SQL layer: SQLAlchemy writes the SQL."""

    def __init__(self, engine: Engine, statement: Any) -> None:
        compiled = statement.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._names: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if compiled.positional else None

    def run(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        if self._names is None:
            conn.exec_driver_sql(self._sql, [dict(r) for r in rows])
        else:
            names = self._names
            conn.exec_driver_sql(self._sql, [tuple(r[n] for n in names) for r in rows])


@dataclass(frozen=True, slots=True)
class _Before:
    """What a row was before the batch: enough to diff counts and search attributes."""

    workflow_type: str
    status: WorkflowStatus
    attributes: dict[str, str]

    @classmethod
    def of(cls, s: WorkflowState) -> _Before:
        return cls(s.workflow_type, s.status, {n: attribute_text(v) for n, v in s.search_attributes.items()})


class _Transaction:
    """`with store.write() as conn:` one committed (or rolled back) transaction."""

    def __init__(self, engine: Engine, *, write: bool) -> None:
        self._engine = engine
        self._write = write
        self._conn: Connection | None = None

    def __enter__(self) -> Connection:
        conn = self._engine.connect()
        if self._write:
            conn = conn.execution_options(**{WRITE_OPTION: True})
        conn.begin()
        self._conn = conn
        return conn

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        conn, self._conn = self._conn, None
        assert conn is not None
        try:
            if exc_type is None:
                conn.commit()
            else:
                conn.rollback()
        finally:
            conn.close()


class _ErrorScope:
    """Turns driver errors into VisibilityStoreError / StoreTimeoutError naming the store."""

    def __init__(self, store: str, what: str) -> None:
        self._store = store
        self._what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, _tb: object) -> None:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return
        text = str(getattr(exc, "orig", exc))
        if isinstance(exc, OperationalError | DBAPIError) and _is_timeout(exc):
            raise StoreTimeoutError(f"{self._what} on {self._store} passed its deadline: {text}") from exc
        raise VisibilityStoreError(f"{self._what} on {self._store} failed: {text}") from exc


def _is_timeout(exc: DBAPIError) -> bool:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate == "57014":  # PostgreSQL query_canceled (statement_timeout)
        return True
    return type(orig).__name__ == "OperationalError" and str(orig) in ("interrupted", "database is locked")


def _stored_offsets(conn: Connection, topic: str) -> dict[int, int]:
    rows = conn.execute(select(t.offsets.c.partition, t.offsets.c.next_offset).where(t.offsets.c.topic == topic))
    return {int(p): int(o) for p, o in rows}


def _load_states(conn: Connection, ids: set[str]) -> dict[str, WorkflowState]:
    found: dict[str, WorkflowState] = {}
    ordered = sorted(ids)
    for i in range(0, len(ordered), _IN_CHUNK):
        chunk = ordered[i : i + _IN_CHUNK]
        for row in conn.execute(select(t.workflows).where(t.workflows.c.workflow_id.in_(chunk))).mappings():
            state = state_from_row(row)
            found[state.workflow_id] = state
    return found


def state_from_row(row: Mapping[Any, Any]) -> WorkflowState:
    """A `sb_workflows` row as a WorkflowState."""
    steps = [OpenStep.from_json(s) for s in json.loads(row["open_steps"] or "[]")]
    return WorkflowState(
        workflow_id=row["workflow_id"],
        workflow_type=row["workflow_type"],
        status=WorkflowStatus(row["status"]),
        started_at_ms=int(row["started_at_ms"]),
        updated_at_ms=int(row["updated_at_ms"]),
        closed_at_ms=row["closed_at_ms"],
        parked_reason=row["parked_reason"],
        trace_id=row["trace_id"],
        parent_workflow_id=row["parent_workflow_id"],
        open_steps={s.seq: s for s in steps},
        awaited_signals=tuple(json.loads(row["awaited_signals"] or "[]")),
        timer_due_ms=row["timer_due_ms"],
        cancel_requested=bool(row["cancel_requested"]),
        compensating=bool(row["compensating"]),
        error_type=row["error_type"],
        error_message=row["error_message"],
        search_attributes=json.loads(row["search_attributes"] or "{}"),
        events=int(row["events"]),
    )


def state_row(s: WorkflowState) -> dict[str, Any]:
    """A WorkflowState as a `sb_workflows` row."""
    step = s.current_step
    return {
        "workflow_id": s.workflow_id,
        "workflow_type": s.workflow_type,
        "status": s.status.value,
        "parked_reason": s.parked_reason,
        "current_step_seq": None if step is None else step.seq,
        "current_step_service": None if step is None else step.service,
        "current_step_type": None if step is None else step.command_type,
        "current_attempt": None if step is None else step.attempt,
        "retry_at_ms": s.retry_at_ms,
        "timer_due_ms": s.timer_due_ms,
        "awaited_signals": json.dumps(list(s.awaited_signals)) if s.awaited_signals else None,
        "cancel_requested": s.cancel_requested,
        "compensating": s.compensating,
        "started_at_ms": s.started_at_ms,
        "updated_at_ms": s.updated_at_ms,
        "closed_at_ms": s.closed_at_ms,
        "trace_id": s.trace_id,
        "parent_workflow_id": s.parent_workflow_id,
        "error_type": s.error_type,
        "error_message": s.error_message,
        "search_attributes": json.dumps(s.search_attributes, sort_keys=True) if s.search_attributes else None,
        "open_steps": json.dumps([st.to_json() for st in s.open_steps.values()]) if s.open_steps else None,
        "events": s.events,
    }


def entry_row(e: TimelineEntry) -> dict[str, Any]:
    """A TimelineEntry as a `sb_timeline` row."""
    return {
        "workflow_id": e.workflow_id,
        "position": e.position,
        "at_ms": e.at_ms,
        "kind": e.kind,
        "step_seq": e.step_seq,
        "attempt": e.attempt,
        "detail": json.dumps(e.detail, separators=(",", ":"), default=str),
        "payload_schema": e.payload_schema,
        "payload": e.payload,
        "source_partition": e.source_partition,
        "source_offset": e.source_offset,
    }


def _now_ms() -> int:
    return int(time.time() * 1000)
