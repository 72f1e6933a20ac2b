from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.testing import WorkflowEnvironment
from tests.engine.workflows import ENVIRONMENT, VARIANT, registry


@pytest.fixture
def h(tmp_path: Path) -> Iterator[WorkflowEnvironment]:
    env = WorkflowEnvironment(registry, state_dir=tmp_path, **ENVIRONMENT)
    try:
        yield env
    finally:
        env.close()
        VARIANT["nd"] = "inventory"
