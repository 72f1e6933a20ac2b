"""The bridge's mapping half stays Kafka-free: shadow mode and tests reuse it without a broker.

Only runtime.py (the exactly-once loop), embedded.py (which starts it) and cli.py may reach Kafka,
and only through orchestrator/transport/; nothing in the bridge imports confluent_kafka itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

BRIDGE = Path(__file__).resolve().parents[2] / "orchestrator" / "bridge"
KAFKA_EDGE = {"runtime.py", "embedded.py", "cli.py"}
KAFKA_MODULES = (
    "confluent_kafka",
    "orchestrator.transport.producer",
    "orchestrator.transport.consumer",
    "orchestrator.transport.source",
    "orchestrator.transport.admin",
    "orchestrator.bridge.runtime",
    "orchestrator.bridge.embedded",
)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_only_the_runtime_edge_reaches_kafka_and_never_directly() -> None:
    modules = sorted(BRIDGE.glob("*.py"))
    assert {p.name for p in modules} >= {"mapping.py", "matching.py", "expressions.py", "runtime.py"}
    for path in modules:
        names = imports(path)
        assert not any(n == "confluent_kafka" or n.startswith("confluent_kafka.") for n in names), path.name
        if path.name not in KAFKA_EDGE:
            reaching = sorted(n for n in names if n.startswith(KAFKA_MODULES))
            assert not reaching, f"{path.name} imports {reaching}"
