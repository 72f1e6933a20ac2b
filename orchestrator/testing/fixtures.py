"""pytest fixtures for workflow tests, loaded automatically once sagabridge is installed.

Override ``workflow_registry`` (and ``workflow_schemas`` for your own `.avsc` folder) in your
`conftest.py`; then ask for ``workflow_env`` in a test (docs/testing.md, "pytest fixtures").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestrator.testing.environment import WorkflowEnvironment
from orchestrator.workflow import WorkflowRegistry, default_registry

EnvironmentFactory = Callable[..., WorkflowEnvironment]


@pytest.fixture
def workflow_registry() -> WorkflowRegistry:
    """The workflows under test; defaults to the registry ``@workflow`` uses without ``registry=``."""
    return default_registry


@pytest.fixture
def workflow_schemas() -> Path | None:
    """The application's schema folder (None: SAGABRIDGE_SCHEMAS_DIR, else the built-in schemas)."""
    return None


@pytest.fixture
def workflow_env_factory(
    workflow_registry: WorkflowRegistry, workflow_schemas: Path | None
) -> Iterator[EnvironmentFactory]:
    """Makes environments (``factory(state_dir=tmp_path, start_time=...)``), all closed after the test."""
    made: list[WorkflowEnvironment] = []

    def make(**options: Any) -> WorkflowEnvironment:
        options.setdefault("schemas", workflow_schemas)
        env = WorkflowEnvironment(options.pop("registry", workflow_registry), **options)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()


@pytest.fixture
def workflow_env(workflow_env_factory: EnvironmentFactory) -> WorkflowEnvironment:
    """A fresh in-memory environment over ``workflow_registry``."""
    return workflow_env_factory()
