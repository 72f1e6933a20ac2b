"""Configuration: file + environment, and bad settings fail fast naming the setting and the fix."""

from __future__ import annotations

from pathlib import Path

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
    assert settings.kafka == {"security.protocol": "PLAINTEXT"}
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
        ({"app": "a", "bootstrap_servers": "x", "framing": "confluent"}, "settings", "schema_registry_url"),
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
