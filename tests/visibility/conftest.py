from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from orchestrator.testing import WorkflowEnvironment
from orchestrator.visibility.store import VisibilityStore
from tests.engine.workflows import ENVIRONMENT, registry


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VisibilityStore]:
    """An empty store on each back end: a SQLite file, and a database on the session's PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'visibility.sqlite3'}"
    else:
        make_db: Callable[[str], str] = request.getfixturevalue("postgres_server")
        url = make_db("store")
    s = VisibilityStore(url)
    s.create()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowEnvironment]:
    """The real engine in process over a real RocksDB: it produces the events the store projects."""
    env = WorkflowEnvironment(registry, state_dir=tmp_path / "engine", **ENVIRONMENT)
    try:
        yield env
    finally:
        env.close()
