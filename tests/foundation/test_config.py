"""Configuration: file + environment, and bad settings fail fast naming the setting and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orchestrator.config import load_settings
from orchestrator.errors import ConfigurationError


def test_file_then_environment_then_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "orchestrator.toml"
    cfg.write_text(
        'app = "orders"\nbootstrap_servers = "from-file:9092"\ncommit_interval_ms = 250\n'
        '[kafka]\n"security.protocol" = "PLAINTEXT"\n'
    )
    monkeypatch.setenv("SAGABRIDGE_INSTANCE_ID", "node-7")
    settings = load_settings(cfg, bootstrap_servers="from-arg:9092")
    assert settings.app == "orders" and settings.commit_interval_ms == 250
    assert settings.bootstrap_servers == "from-arg:9092"
    # security properties under librdkafka's names are validated as `security`, not passed raw
    assert settings.kafka == {} and settings.security.protocol == "PLAINTEXT"
    # the transactional id is stable per instance: a restarted instance fences its zombie
    assert settings.transactional_id == "orders-orchestrator-node-7"
    assert settings.partition_dir(3) == Path(".state") / "orders-orchestrator" / "3"


@pytest.mark.parametrize(
    ("values", "setting", "hint"),
    [
        ({"app": "bad name", "bootstrap_servers": "x"}, "app", "SAGABRIDGE_APP"),
        ({"app": "a"}, "bootstrap_servers", "SAGABRIDGE_BOOTSTRAP_SERVERS"),
        (
            {"app": "a", "bootstrap_servers": "x", "kafka": {"isolation.level": "read_uncommitted"}},
            "kafka",
            "exactly-once",
        ),
        ({"app": "a", "bootstrap_servers": "x", "commit_interval_ms": 0}, "commit_interval_ms", "greater"),
        ({"app": "a", "bootstrap_servers": "x", "framing": "confluent"}, "schema_registry_url", "http://"),
        (
            {"app": "a", "bootstrap_servers": "x", "command_topic_template": "cmds"},
            "command_topic_template",
            "{service}",
        ),
    ],
)
def test_bad_settings_fail_fast_with_the_setting_and_the_fix(
    values: dict[str, object], setting: str, hint: str
) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, **values)
    assert err.value.setting == setting
    assert hint in str(err.value)


def test_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_settings(tmp_path / "nope.toml", app="a", bootstrap_servers="x")


BASE = {"app": "orders", "bootstrap_servers": "kafka-1:9092,kafka-2:9092"}


@pytest.mark.parametrize(
    ("template", "hint"),
    [
        ("{application}.{service}.commands", "{application}; the placeholders supplied are {app} and {service}"),
        ("{}.commands", "{}; the placeholders supplied are"),
        ("{service.upper}.commands", "{service.upper}"),
        ("{service!r}.commands", "conversion or format spec"),
        ("{service:>10}", "conversion or format spec"),
        ("{service.commands", "is not a format string"),
        ("{app}.commands", "has no {service}"),
        ("{service} commands", "characters other than"),
    ],
)
def test_a_command_topic_template_is_checked_against_what_the_formatter_supplies(template: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, **BASE, command_topic_template=template)
    assert err.value.setting == "command_topic_template"
    assert hint in str(err.value) and "SAGABRIDGE_COMMAND_TOPIC_TEMPLATE" in str(err.value)


def test_the_app_placeholder_is_supplied_by_the_engine() -> None:
    """Issue 14: `{app}.{service}.commands` passed validation, then every start was dead-lettered
    with KeyError: 'app'. It is now a supported placeholder, filled in by the one formatter."""
    from orchestrator.engine import EngineTopics

    settings = load_settings(None, **BASE, command_topic_template="{app}.{service}.commands")
    topics = EngineTopics(
        inbox=settings.inbox_topic,
        events=settings.events_topic,
        dlq=settings.dlq_topic,
        command_topic_template=settings.command_topic_template,
        app=settings.app,
    )
    assert topics.command_topic("payments") == "orders.payments.commands"


@pytest.mark.parametrize(
    ("overrides", "setting", "hint"),
    [
        ({"app": "a" * 240}, "app", "at most 239"),
        ({"bootstrap_servers": ""}, "bootstrap_servers", "is not host:port"),
        ({"bootstrap_servers": "kafka:port"}, "bootstrap_servers", "'kafka:port' is not host:port"),
        ({"bootstrap_servers": "a:9092,b:99999"}, "bootstrap_servers", "'b:99999'"),
        ({"instance_id": "node 1"}, "instance_id", "without spaces"),
        ({"instance_id": ""}, "instance_id", "non-empty"),
        ({"group_id": "my group"}, "group_id", "without spaces"),
        ({"service_topics": {"billing": "billing in"}}, "service_topics", "the topic of 'billing'"),
        ({"schema_registry_url": "registry:8081"}, "schema_registry_url", "not an http(s) URL"),
        ({"schemas_dir": "/nonexistent/schemas"}, "schemas_dir", "is not a directory"),
        ({"kafka": {"bootstrap.servers": "x:1"}}, "kafka", "is the setting bootstrap_servers"),
        ({"kafka": {"no.such.property": "1"}}, "kafka", 'No such configuration property: "no.such.property"'),
        ({"kafka": {"acks": "sometimes"}}, "kafka", "Invalid value"),
        # security properties in the pass-through are checked as the typed `security` settings
        (
            {"kafka": {"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"}},
            "security.sasl_username",
            "SAGABRIDGE_SECURITY__SASL_USERNAME",
        ),
    ],
)
def test_every_setting_is_validated_at_startup(overrides: dict[str, object], setting: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, **{**BASE, **overrides})
    assert err.value.setting == setting
    assert hint in str(err.value), str(err.value)


def test_a_state_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("")
    with pytest.raises(ConfigurationError, match="exists and is not a directory") as err:
        load_settings(None, **BASE, state_dir=tmp_path / "state")
    assert err.value.setting == "state_dir"
    assert load_settings(None, **BASE, state_dir=tmp_path / "new" / "dir").state_dir == tmp_path / "new" / "dir"


def test_all_invalid_settings_are_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, app="bad name", bootstrap_servers="x:y", commit_interval_ms=0)
    # the connection settings (inherited from KafkaConnectionSettings) are validated first
    assert err.value.setting == "bootstrap_servers"
    assert "also invalid: app, commit_interval_ms" in str(err.value)


def test_valid_forms_are_accepted() -> None:
    settings = load_settings(
        None,
        app="orders",
        bootstrap_servers="SASL_SSL://kafka-1:9093, [::1]:9092,kafka-3",
        instance_id="node-7",
        service_topics={"billing": "billing.in"},
        schema_registry_url="https://registry.example:8081/apis/ccompat/v7",
        kafka={"linger.ms": "5", "session.timeout.ms": "6000"},
    )
    assert settings.bootstrap_servers == "SASL_SSL://kafka-1:9093,[::1]:9092,kafka-3"


def test_orchestrator_run_refuses_a_bad_template_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from orchestrator.cli import main

    cfg = tmp_path / "o.toml"
    cfg.write_text(
        'app = "orders"\nbootstrap_servers = "127.0.0.1:1"\ncommand_topic_template = "{application}.{service}"\n'
    )
    assert main(["run", "--app", "tests.integration.apps", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: command_topic_template:") and "{application}" in err


def test_every_setting_is_documented() -> None:
    from orchestrator.config import OrchestratorSettings

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    missing = [name for name in OrchestratorSettings.model_fields if f"| `{name}` |" not in doc]
    assert missing == [], f"add these settings to docs/configuration.md: {missing}"


def test_hand_over_and_deadline_defaults_hold_together() -> None:
    settings = load_settings(app="a", bootstrap_servers="x", instance_id="n1")
    assert settings.group_instance_id == settings.transactional_id == "a-orchestrator-n1"
    assert settings.session_timeout_ms == 6000 and settings.heartbeat_interval_ms * 3 <= settings.session_timeout_ms
    assert settings.transaction_timeout_ms > settings.commit_interval_ms + 1000 * settings.kafka_call_timeout_s
    assert load_settings(app="a", bootstrap_servers="x", static_membership=False).group_instance_id is None


@pytest.mark.parametrize(
    ("values", "hint"),
    [
        ({"transaction_timeout_ms": 5000}, "transaction_timeout_ms (5000) must exceed"),
        ({"commit_interval_ms": 9000}, "transaction_timeout_ms (10000) must exceed"),
        ({"kafka": {"transaction.timeout.ms": "4000"}}, "transaction_timeout_ms (4000)"),
        ({"heartbeat_interval_ms": 3000}, "heartbeat_interval_ms (3000) must be at most a third"),
        ({"kafka": {"session.timeout.ms": "soon"}}, "librdkafka refuses it"),
        ({"kafka": {"group.instance.id": "x"}}, "managed by the orchestrator"),
        ({"commit_idle_ms": 101}, "commit_idle_ms (101) must be at most commit_interval_ms (100)"),
        ({"commit_interval_ms": 20, "commit_idle_ms": 50}, "commit_idle_ms (50) must be at most"),
    ],
)
def test_timeouts_that_cannot_work_together_fail_fast(values: dict[str, Any], hint: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        load_settings(None, app="a", bootstrap_servers="x", **values)
    assert hint in str(raised.value)


def test_rocksdb_memory_settings_are_named_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGABRIDGE_ROCKSDB__BLOCK_CACHE_MIB", "256")
    settings = load_settings(None, app="a", bootstrap_servers="x", rocksdb={"cache_index_and_filter_blocks": False})
    assert settings.rocksdb.block_cache_mib == 256 and not settings.rocksdb.cache_index_and_filter_blocks
    with pytest.raises(ConfigurationError) as err:
        load_settings(
            None, app="a", bootstrap_servers="x", rocksdb={"write_buffer_mib": 32, "total_write_buffer_mib": 16}
        )
    assert err.value.setting == "rocksdb.total_write_buffer_mib"
    assert "raise it to at least 32" in str(err.value) and "SAGABRIDGE_ROCKSDB__TOTAL_WRITE_BUFFER_MIB" in str(
        err.value
    )
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, app="a", bootstrap_servers="x", rocksdb={"max_write_buffers": 1})
    assert err.value.setting == "rocksdb.max_write_buffers"


def test_cache_size_is_one_bound_for_the_process() -> None:
    assert load_settings(None, app="a", bootstrap_servers="x").cache_size == 50_000
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, app="a", bootstrap_servers="x", cache_size=0)
    assert err.value.setting == "cache_size"
