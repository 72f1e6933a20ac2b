"""Startup refuses what would break its guarantees, naming the problem."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from orchestrator.config import OrchestratorSettings
from orchestrator.engine.runner import Orchestrator
from orchestrator.errors import PartitionMismatchError, TopicError
from orchestrator.transport.admin import KafkaAdmin
from tests.integration.apps import registry
from tests.integration.harness import serde


def test_orchestrator_refuses_an_inbox_changelog_partition_mismatch(
    kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path: Path
) -> None:
    app = f"mismatch-{uuid.uuid4().hex[:8]}"
    kafka_admin.create(f"{app}.inbox", 4, 1, {})
    kafka_admin.create(f"{app}.changelog", 2, 1, {"cleanup.policy": "compact"})
    settings = OrchestratorSettings(app=app, bootstrap_servers=kafka_bootstrap, state_dir=tmp_path)
    with pytest.raises(PartitionMismatchError) as err:
        Orchestrator(settings, registry, serde=serde).run()
    assert (err.value.inbox, err.value.inbox_partitions) == (f"{app}.inbox", 4)
    assert (err.value.changelog, err.value.changelog_partitions) == (f"{app}.changelog", 2)


def test_orchestrator_refuses_to_start_without_its_topics(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = OrchestratorSettings(
        app=f"absent-{uuid.uuid4().hex[:8]}", bootstrap_servers=kafka_bootstrap, state_dir=tmp_path
    )
    with pytest.raises(TopicError, match="orchestrator topics apply"):
        Orchestrator(settings, registry, serde=serde).run()
