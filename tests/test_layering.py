"""The layering holds at run time too: importing the pure layers loads no Kafka client.

`make lint` checks the import graph (import-linter, pyproject.toml); this checks what an import
really executes, so a lazy import that turned eager (e.g. the registry serde) fails here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = [
    "orchestrator.workflow",
    "orchestrator.state",
    "orchestrator.engine",
    "orchestrator.engine.core",
    # the bridge's mapping half: shadow mode and `connectors check` use it without a broker
    "orchestrator.bridge",
    "orchestrator.bridge.processor",
    "orchestrator.bridge.outbound",
    "orchestrator.bridge.check",
]


@pytest.mark.parametrize("module", PURE)
def test_importing_a_pure_layer_loads_no_kafka_client(module: str) -> None:
    probe = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'confluent_kafka'))"
    loaded = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]", f"{module} loads {loaded.strip()}"


def test_the_registry_serde_is_still_reachable_from_the_package() -> None:
    from orchestrator import serialization
    from orchestrator.serialization.confluent import ConfluentSerde

    assert serialization.ConfluentSerde is ConfluentSerde
