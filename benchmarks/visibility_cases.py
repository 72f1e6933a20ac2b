"""Visibility figures (issue 12): store ingest events/s beside the raw consume rate of the same
records in the same run, and list / filter / detail latency with size.visibility_workflows
(1,000,000 at small and full size) in SQLite and in PostgreSQL.

Ingest: `size.visibility_ingest_workflows` synthetic workflows (benchmarks/visibility_data.py:
the engine's schemas, a realistic mix of outcomes, ~9 events each) are produced to an events
topic; a bare read_committed consumer reads them all (the raw rate), then the Ingester projects
them into an empty store of each back end, clock from its first to its last batch.

Latency: a store filled with the rows that projection writes for the same mix (one workflow of
each shape is projected, then cloned with its own id, times, trace id and search attributes;
bulk-loaded through each back end's fast path: executemany / COPY), then each query of the API
run through WorkflowQueries (the code behind the HTTP routes; detail includes decoding the
payloads to JSON) with random parameters. The PostgreSQL server is a private cluster of Debian's
`postgresql` on a free port (default, durable settings).
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from sqlalchemy import Table, func, select

from benchmarks.errors import BenchmarkError, BenchmarkNotAvailableError
from benchmarks.model import BenchContext, Measurement
from benchmarks.visibility_data import T0_MS, TYPES, encoded_events, shape_of, workflow_events, workflow_id
from orchestrator.devstack.postgres import LocalPostgres, postgres_bin_dir
from orchestrator.devstack.processes import free_port
from orchestrator.errors import StackError
from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.transport.delivery import DeliveringProducer
from orchestrator.transport.kafka_clients import new_consumer
from orchestrator.transport.records import OutboundRecord
from orchestrator.visibility import tables as t
from orchestrator.visibility.detail import DetailBuilder
from orchestrator.visibility.ingest import Ingester
from orchestrator.visibility.projection import Projection, SourceEvent, WorkflowState
from orchestrator.visibility.queries import WorkflowFilter, WorkflowQueries, encode_cursor
from orchestrator.visibility.store import VisibilityStore, entry_row, state_row
from orchestrator.workflow.status import WorkflowStatus

RAW = "visibility raw consume (events topic)"
QUERY_RUNS = 200  # timed calls per query kind (random parameters each)
_serde = SingleObjectSerde(SchemaRepository())


# --- back ends ------------------------------------------------------------------------------------


@contextmanager
def _postgres(ctx: BenchContext) -> Iterator[LocalPostgres]:
    try:
        postgres_bin_dir()
    except StackError as exc:
        raise BenchmarkNotAvailableError(str(exc)) from exc
    # Its own temporary directory: as root the server runs as `postgres`, which must reach it.
    root = Path(tempfile.mkdtemp(prefix="sagabridge-bench-pg-"))
    server = LocalPostgres(root, free_port(), durable=True)
    try:
        server.up()
        yield server
    finally:
        server.down()
        shutil.rmtree(root, ignore_errors=True)


def _stores(ctx: BenchContext, hint: str) -> Iterator[tuple[str, Callable[[], VisibilityStore]]]:
    """(back end name, factory of an empty store) for SQLite, then PostgreSQL."""
    yield "SQLite", lambda: _open(f"sqlite:///{ctx.workdir / (hint + '.sqlite3')}")
    with _postgres(ctx) as server:
        yield "PostgreSQL", lambda: _open(server.create_database(f"bench_{hint}"))


def _open(url: str) -> VisibilityStore:
    store = VisibilityStore(url, statement_timeout_s=120)
    store.create()
    return store


# --- ingest ---------------------------------------------------------------------------------------


def _raw_consume(ctx: BenchContext, topic: str, count: int) -> float:
    consumer = new_consumer(ctx.bootstrap, ctx.name("vis-raw"))
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(ctx.size.partitions)])
    seen, started = 0, None
    deadline = time.monotonic() + 300
    try:
        while seen < count:
            if time.monotonic() > deadline:
                raise BenchmarkError(f"raw consume of {topic}: {seen}/{count} records in 300 s")
            for msg in consumer.consume(1_000, 1.0):
                if msg.error() is None:
                    started = started or time.perf_counter()
                    seen += 1
        return count / max(time.perf_counter() - (started or time.perf_counter()), 1e-9)
    finally:
        consumer.close()


def visibility_ingest(ctx: BenchContext) -> list[Measurement]:
    workflows = ctx.size.visibility_ingest_workflows
    topic = ctx.topic("vis-events")
    dlq = ctx.topic("vis-dlq", partitions=1)
    records = [OutboundRecord(topic, k, v) for k, v in encoded_events(_serde, 0, workflows)]
    producer = DeliveringProducer(ctx.bootstrap)
    producer.send_all(records, timeout_s=600)
    producer.close()
    raw = _raw_consume(ctx, topic, len(records))
    out = [
        Measurement(
            "visibility ingest",
            RAW,
            raw,
            "msgs/s",
            settings={"records": len(records), "workflows": workflows, "partitions": ctx.size.partitions},
            note="bare confluent_kafka consumer, assign-only, read_committed, the same records the ingest reads",
        )
    ]
    for backend, make in _stores(ctx, "ingest"):
        store = make()
        ingester = Ingester(store, _serde, ctx.bootstrap, topic, dlq, batch_max=5_000)
        ingester.open()
        started = time.perf_counter()
        result = ingester.catch_up(1_800)
        seconds = time.perf_counter() - started
        ingester.close()
        counts = WorkflowQueries(store).counts()
        store.close()
        if not result.caught_up or result.applied != len(records) or counts.total != workflows:
            raise BenchmarkError(f"{backend} ingest: {result}, {counts.total} rows (expected {workflows})")
        out.append(
            Measurement(
                "visibility ingest",
                f"visibility ingest, {backend}",
                len(records) / seconds,
                "events/s",
                settings={
                    "events": len(records),
                    "workflows": workflows,
                    "batch_max": 5_000,
                    "seconds": round(seconds, 2),
                },
                note="events topic -> decode -> projection -> one transaction per batch with the offsets",
                compare_to=RAW,
            )
        )
    return out


# --- latency --------------------------------------------------------------------------------------


def _templates() -> dict[tuple[str, int, int], tuple[int, WorkflowState, list[dict[str, Any]]]]:
    """One projected workflow per (shape, steps done, type): its index, final row and timeline rows."""
    found: dict[tuple[str, int, int], tuple[int, WorkflowState, list[dict[str, Any]]]] = {}
    for i in range(50_000):
        shape = shape_of(i)
        key = (shape.outcome, shape.steps_done, i % len(TYPES))
        if key in found:
            continue
        projection, state, entries = Projection(), None, []
        for offset, (schema, value) in enumerate(workflow_events(_serde, i)):
            state, entry = projection.apply(state, SourceEvent(0, offset, workflow_id(i), schema, value, b""))
            if entry is not None:
                entries.append(entry_row(entry))
        assert state is not None
        found[key] = (i, state, entries)
    return found


def _clone_rows(n: int) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]]:
    """(workflow row, timeline rows, search attribute rows) of workflows 0..n-1, cloned from templates."""
    templates = _templates()
    for i in range(n):
        shape = shape_of(i)
        i0, state, entries = templates[(shape.outcome, shape.steps_done, i % len(TYPES))]
        shift = (T0_MS + i * 37) - (T0_MS + i0 * 37)
        wf, wf0 = workflow_id(i), workflow_id(i0)
        row = state_row(state)
        row["workflow_id"] = wf
        for key in ("started_at_ms", "updated_at_ms", "closed_at_ms", "retry_at_ms", "timer_due_ms"):
            if row[key] is not None:
                row[key] += shift
        row["trace_id"] = f"{i:032x}"
        attrs = {"customer_id": f"c-{i % 50_000}", "region": f"r{i % 7}"}
        row["search_attributes"] = json.dumps(attrs, sort_keys=True)
        timeline = [
            {
                **e,
                "workflow_id": wf,
                "at_ms": e["at_ms"] + shift,
                "detail": e["detail"].replace(wf0, wf),
                "source_offset": i,
            }
            for e in entries
        ]
        attr_rows = [
            {"workflow_id": wf, "name": k, "value_text": v, "started_at_ms": row["started_at_ms"]}
            for k, v in attrs.items()
        ]
        yield row, timeline, attr_rows


def _columns(table: Table) -> list[str]:
    return [c.name for c in table.columns]


def fill(store: VisibilityStore, n: int, chunk: int = 20_000) -> float:
    """Bulk-load n workflows through the back end's fast path; returns seconds."""
    started = time.perf_counter()
    tables = (t.workflows, t.timeline, t.search_attributes)
    counts: dict[tuple[str, str], int] = {}
    raw = store.engine.raw_connection()
    try:
        batch: tuple[list[Any], list[Any], list[Any]] = ([], [], [])
        for row, timeline, attrs in _clone_rows(n):
            counts[(row["workflow_type"], row["status"])] = counts.get((row["workflow_type"], row["status"]), 0) + 1
            batch[0].append(row)
            batch[1].extend(timeline)
            batch[2].extend(attrs)
            if len(batch[0]) >= chunk:
                _load(store.backend, raw, tables, batch)
                batch = ([], [], [])
        _load(store.backend, raw, tables, batch)
    finally:
        raw.close()
        store.engine.dispose()  # the queries start on fresh connections, not the bulk loader's
    store.insert_rows([], [], counts)
    store.analyze()
    return time.perf_counter() - started


def _load(backend: str, raw: Any, tables: tuple[Table, ...], batch: tuple[list[Any], ...]) -> None:
    cursor = raw.cursor()
    sqlite = backend == "sqlite"
    if sqlite:
        cursor.execute("BEGIN")  # the engine's SQLite connections run in autocommit mode
    try:
        for table, rows in zip(tables, batch, strict=True):
            if not rows:
                continue
            cols = _columns(table)
            if not sqlite:
                with cursor.copy(f"COPY {table.name} ({', '.join(cols)}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row([r[c] for c in cols])
            else:
                marks = ", ".join("?" for _ in cols)
                cursor.executemany(
                    f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({marks})",
                    [[r[c] for c in cols] for r in rows],
                )
        if sqlite:
            cursor.execute("COMMIT")
        else:
            raw.commit()
    finally:
        cursor.close()


def _timed(runs: int, call: Callable[[random.Random], object]) -> tuple[float, float]:
    rng = random.Random(7)
    call(rng)  # warm the connection and the plan cache
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call(rng)
        samples.append((time.perf_counter() - started) * 1000)
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return q[49], q[98]


def _queries(store: VisibilityStore, n: int) -> dict[str, Callable[[random.Random], object]]:
    queries = WorkflowQueries(store)
    builder = DetailBuilder(_serde)
    span = n * 37  # started_at spread of the synthetic workflows

    def deep_cursor(rng: random.Random) -> str:
        i = rng.randrange(n)
        return encode_cursor(
            WorkflowState(workflow_id(i), "", WorkflowStatus.RUNNING, T0_MS + i * 37, T0_MS + i * 37), False
        )

    def detail(rng: random.Random) -> object:
        found = queries.detail(workflow_id(rng.randrange(n)))
        assert found is not None
        return builder.build(*found)

    return {
        "list, first page": lambda rng: queries.page(WorkflowFilter(), 50),
        "list, deep page (cursor)": lambda rng: queries.page(WorkflowFilter(), 50, deep_cursor(rng)),
        "filter status=parked": lambda rng: queries.page(WorkflowFilter(statuses=(WorkflowStatus.PARKED,)), 50),
        "filter type+status, deep page": lambda rng: queries.page(
            WorkflowFilter(types=(rng.choice(TYPES),), statuses=(rng.choice(list(WorkflowStatus)),)),
            50,
            deep_cursor(rng),
        ),
        "filter search attribute": lambda rng: queries.page(
            WorkflowFilter(attributes=(("customer_id", f"c-{rng.randrange(50_000)}"),)), 50
        ),
        "filter time range (1 h)": lambda rng: queries.page(
            WorkflowFilter(
                started_after_ms=(start := T0_MS + rng.randrange(span)), started_before_ms=start + 3_600_000
            ),
            50,
        ),
        "filter id prefix": lambda rng: queries.page(
            WorkflowFilter(id_prefix=f"order-{rng.randrange(10_000):04d}"), 50
        ),
        "counts by status": lambda rng: queries.counts(),
        "counts by status, one type": lambda rng: queries.counts(WorkflowFilter(types=(rng.choice(TYPES),))),
        "detail (row + timeline + steps, payloads decoded)": detail,
    }


def visibility_latency(ctx: BenchContext) -> list[Measurement]:
    n = ctx.size.visibility_workflows
    out: list[Measurement] = []
    for backend, make in _stores(ctx, "latency"):
        store = make()
        seconds = fill(store, n)
        with store.read() as conn:
            rows = conn.execute(select(func.count()).select_from(t.timeline)).scalar()
        settings = {"workflows": n, "timeline_rows": rows, "runs": QUERY_RUNS, "fill_s": round(seconds, 1)}
        for name, call in _queries(store, n).items():
            p50, p99 = _timed(QUERY_RUNS, call)
            ctx.log.info("  %s %s: p50 %.2f ms, p99 %.2f ms", backend, name, p50, p99)
            for q, value in (("p50", p50), ("p99", p99)):
                out.append(
                    Measurement(
                        "visibility latency",
                        f"{backend} {name} {q}",
                        value,
                        "ms",
                        settings=settings if q == "p50" else {"workflows": n},
                        note="goal: p99 under 100 ms" if q == "p99" else "",
                    )
                )
        store.close()
    return out
