"""docs/metrics.md names every metric and attribute, under both its OTel and its Prometheus name (no broker)."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator.engine.observations import DEAD_LETTERED
from orchestrator.metrics import PROCESS_METRICS, MetricsPipeline, create_metrics_pipeline
from orchestrator.metrics import metric_names as m
from orchestrator.metrics.connector_metrics import ConnectorCounts, ConnectorMetrics
from orchestrator.metrics.orchestrator_metrics import CheckpointOutcome, OrchestratorMetrics
from orchestrator.metrics.worker_metrics import CommandOutcome, ServiceMetrics
from orchestrator.transport.records import InboundRecord, OutboundRecord

DOC = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text()


@pytest.fixture
def pipeline() -> Iterator[MetricsPipeline]:
    found = create_metrics_pipeline("docs-check", prometheus_port=0)
    yield found
    found.shutdown()


def test_every_name_and_attribute_constant_is_documented() -> None:
    values = {name: value for name, value in vars(m).items() if name.isupper() and isinstance(value, str)}
    missing = sorted(f"{name}={value}" for name, value in values.items() if value not in DOC)
    assert not missing, f"docs/metrics.md does not mention {missing}"
    assert not [name for name in PROCESS_METRICS if name not in DOC]


def test_every_exported_prometheus_family_is_documented(pipeline: MetricsPipeline) -> None:
    """Every instrument records once, so the scrape shows each family the exporter derives."""
    orchestrator = OrchestratorMetrics(pipeline.provider, inbox_topic="in", changelog_topic="cl", group="g")
    orchestrator.consumed([InboundRecord("in", 0, 1, None, None)])
    orchestrator.sent([OutboundRecord("ev", None, None)])
    orchestrator.checkpoint(0.01, CheckpointOutcome.COMMITTED)
    orchestrator.restored(0.1, 5)
    orchestrator.handed_over(0.2)
    counters = ("producer_recoveries", "total_recovery_s", "consumer_replacements", "fenced_owners", "retried_calls")
    orchestrator.sample(owned=1, lag={0: 3}, cached=2, totals=dict.fromkeys(counters, 1))
    step = {"service": "s", "command_type": "c", "attempt": 1, "at_ms": 9}
    assert orchestrator.engine_recorder is not None
    orchestrator.engine_recorder.committed(
        [
            ("WorkflowStarted", {"workflow_type": "t", "at_ms": 1}, None),
            ("WorkflowCompleted", {"workflow_type": "t", "at_ms": 5}, 1),
            ("WorkflowParked", {"workflow_type": "t"}, None),
            ("OperatorActionApplied", {"workflow_type": "t", "action": "retry"}, None),
            ("StepScheduled", step, None),
            ("StepRetrying", step, None),
            ("StepCompleted", step, 1),
            ("ReplyIgnored", {"workflow_type": "t", "why": "late"}, None),
            (DEAD_LETTERED, {"reason": "x"}, None),
        ]
    )
    service = ServiceMetrics(pipeline.provider, service="s", command_topic="c", group="g", dedupe_size=lambda: 1)
    service.started()
    service.handled("c", CommandOutcome.SUCCEEDED, None, 0.1)
    service.consumed([InboundRecord("c", 0, 1, None, None)])
    counts = ConnectorCounts("shop", 4, 1, 1, 1, {"order-placed": 1}, {"decode": 1}, 2, 1, 1)
    connector = ConnectorMetrics(pipeline.provider, lambda: counts)
    assert pipeline.endpoint is not None
    with urllib.request.urlopen(pipeline.endpoint.url, timeout=10) as response:
        text = response.read().decode()
    declared = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    # one family per name, or Prometheus refuses the scrape (an orchestrator and a service in one process)
    assert len(declared) == len(set(declared)), sorted(n for n in declared if declared.count(n) > 1)
    families = set(declared) - {"target_info"}
    assert len(families) >= 34
    assert connector.read() is counts  # held until here: the instruments keep connectors weakly
    missing = sorted(f for f in families if f"`{f}`" not in DOC)
    assert not missing, f"docs/metrics.md does not name the Prometheus families {missing}"
