from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine.harness import Harness
from tests.engine.workflows import VARIANT, registry


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, registry)
    try:
        yield harness
    finally:
        harness.close()
        VARIANT["nd"] = "inventory"
