"""The visibility store's read side: filtered, keyset-paginated lists, counts, one workflow.

Pages are ordered newest first by (started_at_ms, workflow_id) and continued with a cursor that
holds the last row's key, so a page is a range scan of an index (tables.py) that stops after
`limit` rows, and workflows started after the first page was read never shift the next pages.
With an id prefix the order is the id itself (the primary key), for the same reason.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, tuple_

from orchestrator.visibility import tables as t
from orchestrator.visibility.errors import InvalidQueryError
from orchestrator.visibility.projection import TimelineEntry, WorkflowState
from orchestrator.visibility.store import VisibilityStore, state_from_row
from orchestrator.workflow.status import WorkflowStatus

MAX_PAGE = 500
MAX_TIMELINE = 5_000


@dataclass(frozen=True, slots=True)
class WorkflowFilter:
    """Every filter is optional; all given ones must hold (AND). Several statuses or types: any."""

    statuses: tuple[WorkflowStatus, ...] = ()
    types: tuple[str, ...] = ()
    id_prefix: str | None = None
    started_after_ms: int | None = None  # inclusive
    started_before_ms: int | None = None  # exclusive
    attributes: tuple[tuple[str, str], ...] = ()  # (name, canonical text)

    @property
    def by_id(self) -> bool:
        """An id prefix orders the page by id (the primary key), not by start time."""
        return bool(self.id_prefix)

    @property
    def only_type_and_status(self) -> bool:
        """Counts for this filter can come from sb_status_counts."""
        return not (
            self.id_prefix or self.attributes or self.started_after_ms is not None or self.started_before_ms is not None
        )


@dataclass(frozen=True, slots=True)
class Page:
    """One page of rows and the cursor of the next (None: the last page)."""

    workflows: list[WorkflowState]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class StatusCounts:
    """Workflows per status, and whether they came from the counters or a scan."""

    total: int
    by_status: dict[WorkflowStatus, int] = field(default_factory=dict)
    exact_source: str = "counters"  # "counters" (kept at ingest) or "scan" (counted for this filter)


def encode_cursor(state: WorkflowState, by_id: bool) -> str:
    """The keyset cursor after `state`: opaque to callers, URL-safe."""
    key: list[Any] = ["id", state.workflow_id] if by_id else ["started", state.started_at_ms, state.workflow_id]
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, by_id: bool) -> tuple[Any, ...]:
    """The key a cursor holds; InvalidQueryError for a forged one or another ordering's."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if by_id and raw[0] == "id" and len(raw) == 2:
            return (str(raw[1]),)
        if not by_id and raw[0] == "started" and len(raw) == 3:
            return int(raw[1]), str(raw[2])
    except (ValueError, TypeError, IndexError, KeyError) as exc:
        raise InvalidQueryError(f"cursor {cursor!r} is not valid: {exc}") from exc
    raise InvalidQueryError(f"cursor {cursor!r} belongs to another ordering (id prefix given or not)")


def prefix_bound(prefix: str) -> str | None:
    """The smallest string greater than every string starting with `prefix` (None: unbounded)."""
    stripped = prefix.rstrip("\U0010ffff")
    if not stripped:
        return None
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


class WorkflowQueries:
    """The store's read side: every query is an index range scan, whatever the store's size."""

    def __init__(self, store: VisibilityStore) -> None:
        self.store = store

    def page(self, f: WorkflowFilter, limit: int = 50, cursor: str | None = None) -> Page:
        """Up to `limit` rows under `f`, after `cursor`, newest first (by id with an id prefix)."""
        limit = max(1, min(limit, MAX_PAGE))
        w = t.workflows
        query: Select[Any]
        if f.attributes:
            query = self._by_attributes(f, limit, cursor)
        else:
            query = select(w).where(*self._conditions(f))
            if f.by_id:
                if cursor is not None:
                    query = query.where(w.c.workflow_id > decode_cursor(cursor, True)[0])
                query = query.order_by(w.c.workflow_id)
            else:
                if cursor is not None:
                    started, wf = decode_cursor(cursor, False)
                    query = query.where(tuple_(w.c.started_at_ms, w.c.workflow_id) < tuple_(started, wf))
                query = query.order_by(w.c.started_at_ms.desc(), w.c.workflow_id.desc())
            query = query.limit(limit + 1)
        with self.store.errors("list workflows"), self.store.read() as conn:
            states = [state_from_row(r) for r in conn.execute(query).mappings()]
        more = len(states) > limit
        states = states[:limit]
        return Page(states, encode_cursor(states[-1], f.by_id) if more and states else None)

    def _conditions(self, f: WorkflowFilter) -> list[ColumnElement[bool]]:
        w = t.workflows
        conds: list[ColumnElement[bool]] = []
        if f.statuses:
            conds.append(w.c.status.in_([s.value for s in f.statuses]))
        if f.types:
            conds.append(w.c.workflow_type.in_(list(f.types)))
        if f.started_after_ms is not None:
            conds.append(w.c.started_at_ms >= f.started_after_ms)
        if f.started_before_ms is not None:
            conds.append(w.c.started_at_ms < f.started_before_ms)
        if f.id_prefix:
            conds.append(w.c.workflow_id >= f.id_prefix)
            upper = prefix_bound(f.id_prefix)
            if upper is not None:
                conds.append(w.c.workflow_id < upper)
        return conds

    def _by_attributes(self, f: WorkflowFilter, limit: int, cursor: str | None) -> Select[Any]:
        """Page on the first attribute's index (name, value, started, id); the rest are joins."""
        w = t.workflows
        first = t.search_attributes.alias("a0")
        query = select(w).select_from(first.join(w, w.c.workflow_id == first.c.workflow_id))
        conds = [first.c.name == f.attributes[0][0], first.c.value_text == f.attributes[0][1], *self._conditions(f)]
        for i, (name, value) in enumerate(f.attributes[1:], start=1):
            other = t.search_attributes.alias(f"a{i}")
            query = query.join(other, and_(other.c.workflow_id == w.c.workflow_id, other.c.name == name))
            conds.append(other.c.value_text == value)
        if f.by_id:
            if cursor is not None:
                conds.append(first.c.workflow_id > decode_cursor(cursor, True)[0])
            order: list[Any] = [first.c.workflow_id]
        else:
            if cursor is not None:
                started, wf = decode_cursor(cursor, False)
                conds.append(
                    or_(
                        first.c.started_at_ms < started,
                        and_(first.c.started_at_ms == started, first.c.workflow_id < wf),
                    )
                )
            order = [first.c.started_at_ms.desc(), first.c.workflow_id.desc()]
        return query.where(*conds).order_by(*order).limit(limit + 1)

    def counts(self, f: WorkflowFilter = WorkflowFilter()) -> StatusCounts:
        """Workflows per status under `f`: from the ingest-kept counters when `f` filters on type
        and status only (constant time), else counted."""
        if f.only_type_and_status:
            c = t.status_counts
            query = select(c.c.status, func.sum(c.c.n)).group_by(c.c.status)
            if f.types:
                query = query.where(c.c.workflow_type.in_(list(f.types)))
            source = "counters"
        else:
            w = t.workflows
            base = select(w.c.status).where(*self._conditions(f))
            if f.attributes:
                base = select(w.c.status).where(w.c.workflow_id.in_(self._by_attributes_ids(f)), *self._conditions(f))
            sub = base.subquery()
            query = select(sub.c.status, func.count()).group_by(sub.c.status)
            source = "scan"
        with self.store.errors("count workflows"), self.store.read() as conn:
            rows = conn.execute(query).all()
        by_status = {WorkflowStatus(s): int(n) for s, n in rows if n}
        if f.statuses:
            by_status = {s: n for s, n in by_status.items() if s in f.statuses}
        return StatusCounts(sum(by_status.values()), by_status, source)

    def types(self) -> dict[str, dict[WorkflowStatus, int]]:
        """Workflows per status of every type the store has seen, from sb_status_counts."""
        c = t.status_counts
        query = select(c.c.workflow_type, c.c.status, c.c.n).where(c.c.n > 0).order_by(c.c.workflow_type)
        with self.store.errors("list workflow types"), self.store.read() as conn:
            rows = conn.execute(query).all()
        out: dict[str, dict[WorkflowStatus, int]] = {}
        for workflow_type, status, n in rows:
            out.setdefault(str(workflow_type), {})[WorkflowStatus(status)] = int(n)
        return out

    def _by_attributes_ids(self, f: WorkflowFilter) -> Select[Any]:
        a = t.search_attributes
        ids = select(a.c.workflow_id).where(a.c.name == f.attributes[0][0], a.c.value_text == f.attributes[0][1])
        for name, value in f.attributes[1:]:
            ids = ids.where(
                a.c.workflow_id.in_(select(a.c.workflow_id).where(a.c.name == name, a.c.value_text == value))
            )
        return ids

    def get(self, workflow_id: str) -> WorkflowState | None:
        """One row, or None."""
        with self.store.errors("read a workflow"), self.store.read() as conn:
            row = conn.execute(select(t.workflows).where(t.workflows.c.workflow_id == workflow_id)).mappings().first()
        return None if row is None else state_from_row(row)

    def detail(
        self, workflow_id: str, after_position: int = -1, limit: int = MAX_TIMELINE
    ) -> tuple[WorkflowState, list[TimelineEntry], list[WorkflowState]] | None:
        """The row, its timeline (positions after `after_position`, oldest first) and its
        children, read from one snapshot."""
        limit = max(1, min(limit, MAX_TIMELINE))
        w, tl = t.workflows, t.timeline
        with self.store.errors("read a workflow"), self.store.read() as conn:
            row = conn.execute(select(w).where(w.c.workflow_id == workflow_id)).mappings().first()
            if row is None:
                return None
            entries = [
                _entry_from_row(r)
                for r in conn.execute(
                    select(tl)
                    .where(tl.c.workflow_id == workflow_id, tl.c.position > after_position)
                    .order_by(tl.c.position)
                    .limit(limit)
                ).mappings()
            ]
            children = [
                state_from_row(r)
                for r in conn.execute(
                    select(w).where(w.c.parent_workflow_id == workflow_id).order_by(w.c.started_at_ms).limit(MAX_PAGE)
                ).mappings()
            ]
        return state_from_row(row), entries, children


def _entry_from_row(row: Any) -> TimelineEntry:
    payload = row["payload"]
    return TimelineEntry(
        workflow_id=row["workflow_id"],
        position=int(row["position"]),
        at_ms=int(row["at_ms"]),
        kind=row["kind"],
        step_seq=row["step_seq"],
        attempt=row["attempt"],
        detail=json.loads(row["detail"]),
        payload_schema=row["payload_schema"],
        payload=None if payload is None else bytes(payload),
        source_partition=int(row["source_partition"]),
        source_offset=int(row["source_offset"]),
    )


def parse_attribute_filters(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`name=value` strings (API query `attr=`, CLI `--attr`) as (name, canonical text) pairs."""
    pairs = []
    for raw in values:
        name, sep, value = raw.partition("=")
        if not sep or not name:
            raise InvalidQueryError(f"search attribute filter {raw!r} is not name=value")
        pairs.append((name.strip(), value))
    return tuple(pairs)
