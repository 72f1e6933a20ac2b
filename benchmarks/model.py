"""What a benchmark case is given (BenchContext, Size) and what it hands back (Measurement).

Kept apart from the runner so a case module imports only this and its own Kafka code, and the
report can be rebuilt from a results JSON without running anything.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from orchestrator.errors import TopicError
from orchestrator.transport.admin import KafkaAdmin

Status = Literal["ok", "not available", "skipped", "error"]

# The measurement every throughput figure is compared with ("ratio vs ceiling" column).
CEILING = "raw EOS pipe"


@dataclass(frozen=True)
class Size:
    """Workload sizes of one harness run. `tiny` only proves the harness works (make test)."""

    name: str
    partitions: int
    produce_msgs: int
    consume_msgs: int
    pipe_msgs: int
    quix_msgs: int
    temporal_workflows: int
    run_peers: bool
    # For the orchestrator cases (registered by the lead in benchmarks/cases.py):
    workflows: int
    inflight_workflows: int
    # For the visibility cases: rows in the store for the latency figures, workflows ingested.
    visibility_workflows: int
    visibility_ingest_workflows: int
    # Shadow mode (benchmarks/shadow_cases.py): orders ingested, orders in the report, orders compared.
    shadow_cases: int = 2_000
    shadow_report_cases: int = 100_000
    shadow_compare_cases: int = 1_000
    # The long-workflow case (benchmarks/long_workflow.py): steps of its one workflow.
    long_workflow_steps: int = 10_000


SIZES: dict[str, Size] = {
    "tiny": Size(
        "tiny",
        partitions=2,
        produce_msgs=2_000,
        consume_msgs=2_000,
        pipe_msgs=1_000,
        quix_msgs=500,
        temporal_workflows=20,
        run_peers=False,
        workflows=100,
        inflight_workflows=500,
        visibility_workflows=2_000,
        visibility_ingest_workflows=300,
        shadow_cases=200,
        shadow_report_cases=1_000,
        shadow_compare_cases=50,
        long_workflow_steps=60,
    ),
    "small": Size(
        "small",
        partitions=4,
        produce_msgs=300_000,
        consume_msgs=300_000,
        pipe_msgs=100_000,
        quix_msgs=50_000,
        temporal_workflows=300,
        run_peers=True,
        workflows=3_000,
        inflight_workflows=100_000,
        visibility_workflows=1_000_000,
        visibility_ingest_workflows=20_000,
    ),
    "full": Size(
        "full",
        partitions=8,
        produce_msgs=2_000_000,
        consume_msgs=2_000_000,
        pipe_msgs=1_000_000,
        quix_msgs=300_000,
        temporal_workflows=3_000,
        run_peers=True,
        workflows=30_000,
        inflight_workflows=1_000_000,
        visibility_workflows=1_000_000,
        visibility_ingest_workflows=100_000,
        shadow_cases=20_000,
        shadow_report_cases=100_000,
        shadow_compare_cases=5_000,
    ),
}


@dataclass(frozen=True)
class Measurement:
    """One figure of one case. `value` is None unless status is "ok"."""

    case: str
    name: str
    value: float | None
    unit: str
    status: Status = "ok"
    settings: dict[str, Any] = field(default_factory=dict)
    note: str = ""
    # Throughput figures set this to CEILING (or another figure of the run, by name) so the
    # report prints their ratio.
    compare_to: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "status": self.status,
            "settings": self.settings,
            "note": self.note,
            "compare_to": self.compare_to,
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> Measurement:
        return Measurement(
            case=str(data["case"]),
            name=str(data["name"]),
            value=data["value"],
            unit=str(data["unit"]),
            status=data["status"],
            settings=dict(data["settings"]),
            note=str(data["note"]),
            compare_to=data["compare_to"],
        )


@dataclass
class BenchContext:
    """Everything a case needs: the broker, the sizes, a scratch dir and unique topic names.

    Topics made through `topic()` are deleted by the runner when the run ends, so repeated
    runs on the shared dev broker leave nothing behind.
    """

    bootstrap: str
    size: Size
    workdir: Path
    run_id: str
    commit_interval_ms: int
    log: logging.Logger
    admin: KafkaAdmin = field(init=False)
    created_topics: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.admin = KafkaAdmin(self.bootstrap)

    def name(self, hint: str) -> str:
        return f"bench-{self.run_id}-{hint}-{uuid.uuid4().hex[:6]}"

    def topic(self, hint: str, partitions: int | None = None, config: dict[str, str] | None = None) -> str:
        name = self.name(hint)
        self.admin.create(name, partitions or self.size.partitions, 1, config or {})
        self.created_topics.append(name)
        return name

    def adopt_topics(self, fragment: str) -> None:
        """Mark topics a peer created itself (changelogs, repartitions) for deletion at the end."""
        client = AdminClient({"bootstrap.servers": self.bootstrap})
        found = [t for t in client.list_topics(timeout=10).topics if fragment in t]
        self.created_topics.extend(t for t in found if t not in self.created_topics)

    def cleanup(self) -> None:
        """Delete this run's topics; one that is already gone is not an error."""
        for name in self.created_topics:
            try:
                self.admin.delete([name])
            except (KafkaException, TopicError) as exc:
                self.log.warning("could not delete topic %s: %s", name, exc)
        self.created_topics.clear()


CaseFn = Callable[[BenchContext], list[Measurement]]


@dataclass(frozen=True)
class Case:
    """A named benchmark. `group` orders the report: ceiling, orchestrator, peer."""

    name: str
    group: Literal["ceiling", "orchestrator", "bridge", "visibility", "shadow", "peer"]
    run: CaseFn
    description: str
