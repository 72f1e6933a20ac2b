"""Topics as code against the real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from orchestrator.admin.topic_specs import TopicRole, TopicSet, apply, load_topic_set, verify_copartitioned
from orchestrator.errors import PartitionMismatchError
from orchestrator.transport.admin import KafkaAdmin

SPEC = Path(__file__).resolve().parents[2] / "topics" / "orders.toml"


def _app_only(app: str, partitions: int | None = None) -> TopicSet:
    full = load_topic_set(SPEC, app=app, partitions=partitions)
    # Command topics are shared names; tests keep to the app's own topics.
    return full.model_copy(update={"topics": tuple(t for t in full.topics if t.role is not TopicRole.COMMANDS)})


def test_apply_creates_compacted_changelog_copartitioned_with_inbox(
    kafka_admin: KafkaAdmin, unique_name: Callable[[str], str]
) -> None:
    app = unique_name("app")
    report = apply(kafka_admin, _app_only(app, partitions=4))
    assert sorted(report.created) == sorted([f"{app}.inbox", f"{app}.changelog", f"{app}.events", f"{app}.dlq"])

    live = kafka_admin.describe([f"{app}.inbox", f"{app}.changelog"])
    assert live[f"{app}.changelog"].config["cleanup.policy"] == "compact"
    assert live[f"{app}.inbox"].config["cleanup.policy"] == "delete"
    assert live[f"{app}.changelog"].partitions == live[f"{app}.inbox"].partitions == 4
    assert verify_copartitioned(kafka_admin, f"{app}.inbox", f"{app}.changelog") == 4


def test_apply_is_idempotent_and_reports_drift_without_changing_the_topic(
    kafka_admin: KafkaAdmin, unique_name: Callable[[str], str]
) -> None:
    app = unique_name("app")
    apply(kafka_admin, _app_only(app, partitions=2))
    again = apply(kafka_admin, _app_only(app, partitions=2))
    assert again.created == [] and again.drift == []

    drifted = apply(kafka_admin, _app_only(app, partitions=3))
    assert {(d.topic, d.setting, d.expected, d.actual) for d in drifted.drift} == {
        (f"{app}.inbox", "partitions", "3", "2"),
        (f"{app}.changelog", "partitions", "3", "2"),
    }
    assert kafka_admin.describe([f"{app}.inbox"])[f"{app}.inbox"].partitions == 2


def test_mismatched_live_topics_are_refused_naming_both(
    kafka_admin: KafkaAdmin, unique_name: Callable[[str], str]
) -> None:
    app = unique_name("app")
    kafka_admin.create(f"{app}.inbox", 3, 1, {})
    kafka_admin.create(f"{app}.changelog", 2, 1, {"cleanup.policy": "compact"})
    with pytest.raises(PartitionMismatchError) as err:
        apply(kafka_admin, _app_only(app, partitions=3))
    message = str(err.value)
    assert f"{app}.inbox" in message and f"{app}.changelog" in message and "3" in message and "2" in message
    with pytest.raises(PartitionMismatchError):
        verify_copartitioned(kafka_admin, f"{app}.inbox", f"{app}.changelog")


def test_changelog_follows_the_live_inbox_partition_count(
    kafka_admin: KafkaAdmin, unique_name: Callable[[str], str]
) -> None:
    app = unique_name("app")
    kafka_admin.create(f"{app}.inbox", 5, 1, {"cleanup.policy": "delete"})
    report = apply(kafka_admin, _app_only(app, partitions=4))
    assert f"{app}.changelog" in report.created
    assert any(d.topic == f"{app}.inbox" and d.setting == "partitions" for d in report.drift)
    assert kafka_admin.partition_count(f"{app}.changelog") == 5


def test_spec_with_mismatched_partitions_is_rejected_before_touching_kafka(tmp_path: Path) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(
        '[app]\nname = "x"\n'
        '[[topic]]\nname = "{app}.inbox"\nrole = "inbox"\npartitions = 3\n'
        '[[topic]]\nname = "{app}.changelog"\nrole = "changelog"\npartitions = 6\n'
    )
    with pytest.raises(PartitionMismatchError, match=r"'x.inbox' has 3 .* 'x.changelog' has 6"):
        load_topic_set(spec)
