"""Opening the visibility database: SQLite (embedded default) or PostgreSQL, one SQLAlchemy engine.

Both back ends get the same deadlines (`statement_timeout_s`), and the pool's checkout waits no
longer: PostgreSQL through `statement_timeout`, `connect_timeout` and TCP keepalives /
`tcp_user_timeout` (a silent peer), SQLite through its busy timeout and a progress handler that
interrupts a statement running past it. SQLite runs in WAL mode (readers never block the
ingest writer) with transactions issued explicitly: `BEGIN IMMEDIATE` for ingest batches, so
two writers queue on the lock instead of failing, and plain `BEGIN` for reads, so a detail page
reads its row and timeline from one snapshot.
"""

from __future__ import annotations

import importlib.util
import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import ConnectionPoolEntry

from orchestrator.errors import ConfigurationError

WRITE_OPTION = "sb_write"  # execution option: this connection's transaction is an ingest batch
_PROGRESS_EVERY = 10_000  # SQLite VM instructions between deadline checks


class _Deadline:
    """Per-connection statement deadline checked by SQLite's progress handler."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at: float | None = None

    def expired(self) -> int:
        return 1 if self.at is not None and time.monotonic() > self.at else 0


def open_engine(url: str, *, statement_timeout_s: float = 10.0, pool_size: int = 5) -> Engine:
    """An engine for `url` (sqlite:///path or postgresql://...); bad URLs fail here, by name."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigurationError(
            "visibility.store_url", f"{url!r} is not a database URL", "use sqlite:///path or postgresql://host/db"
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite(parsed.database, statement_timeout_s)
    if backend == "postgresql":
        if importlib.util.find_spec("psycopg") is None:
            raise ConfigurationError(
                "visibility.store_url", "PostgreSQL needs the psycopg driver", "pip install 'sagabridge[postgres]'"
            )
        return create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_timeout=statement_timeout_s,
            pool_pre_ping=True,
            connect_args={
                "connect_timeout": max(1, int(statement_timeout_s)),
                "options": f"-c statement_timeout={int(statement_timeout_s * 1000)}",
                # statement_timeout is the server's clock; a server or network that goes silent is
                # bounded by the socket: unacknowledged sends and idle waits end after about
                # statement_timeout_s (tcp_user_timeout, keepalives) instead of blocking forever.
                "tcp_user_timeout": int(statement_timeout_s * 1000),
                "keepalives": 1,
                "keepalives_idle": max(1, int(statement_timeout_s)),
                "keepalives_interval": 1,
                "keepalives_count": 3,
                "application_name": "sagabridge-visibility",
            },
        )
    raise ConfigurationError(
        "visibility.store_url", f"unsupported database {backend!r}", "use sqlite:///path or postgresql://host/db"
    )


def _sqlite(database: str | None, statement_timeout_s: float) -> Engine:
    if not database or database == ":memory:":
        raise ConfigurationError(
            "visibility.store_url", "an in-memory SQLite store is lost on exit", "give a file: sqlite:///path/store.db"
        )
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        f"sqlite:///{database}",
        connect_args={"timeout": statement_timeout_s, "isolation_level": None, "check_same_thread": False},
        pool_size=5,
        max_overflow=10,
        pool_timeout=statement_timeout_s,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        deadline = _Deadline()
        record.info["sb_deadline"] = deadline
        dbapi_conn.set_progress_handler(deadline.expired, _PROGRESS_EVERY)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",  # a projection: a crash loses at most the last batches, re-read from Kafka
            "cache_size=-65536",
            "mmap_size=268435456",
            "temp_store=MEMORY",
        ):
            dbapi_conn.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = bool(conn.get_execution_options().get(WRITE_OPTION))
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    @event.listens_for(engine, "before_cursor_execute")
    def _arm(conn: Connection, *_args: Any) -> None:
        conn.info["sb_deadline"].at = time.monotonic() + statement_timeout_s

    @event.listens_for(engine, "after_cursor_execute")
    def _disarm(conn: Connection, *_args: Any) -> None:
        conn.info["sb_deadline"].at = None

    return engine


def describe(url: str) -> str:
    """The URL without its password, for logs and the status endpoint."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid url>"
