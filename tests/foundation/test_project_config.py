"""Every command's settings: flags > SAGABRIDGE_* > sagabridge.toml (found upwards) > the dev stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.devstack.stack import LocalStack
from orchestrator.errors import ConfigurationError
from orchestrator.project import bootstrap_servers, find_config, load_project, settings_for


@pytest.fixture
def project_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("SAGABRIDGE_APP", "SAGABRIDGE_BOOTSTRAP_SERVERS", "SAGABRIDGE_STATE_DIR", "SAGABRIDGE_SCHEMAS_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "sagabridge.toml").write_text(
        'app = "shop"\nstate_dir = "var/state"\ncommit_interval_ms = 50\n\n'
        '[project]\nworkflows = "shop.flows"\ntopics = "t.toml"\n'
    )
    nested = tmp_path / "src" / "deep"
    nested.mkdir(parents=True)
    monkeypatch.chdir(nested)
    return tmp_path


def test_the_nearest_sagabridge_toml_is_found_and_its_paths_are_relative_to_it(project_dir: Path) -> None:
    assert find_config() == project_dir / "sagabridge.toml"
    project = load_project()
    assert project.project.workflows == "shop.flows"
    assert project.project.topics == project_dir / "t.toml"
    settings = settings_for(project)
    assert settings.app == "shop" and settings.commit_interval_ms == 50
    assert settings.state_dir == (project_dir / "var" / "state").resolve()


def test_kafka_defaults_to_the_dev_stack_and_env_and_flags_win(
    project_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = load_project()
    assert settings_for(project).bootstrap_servers == LocalStack("dev").bootstrap_servers
    monkeypatch.setenv("SAGABRIDGE_BOOTSTRAP_SERVERS", "kafka:9092")
    monkeypatch.setenv("SAGABRIDGE_COMMIT_INTERVAL_MS", "70")
    assert bootstrap_servers(None, project) == "kafka:9092"
    settings = settings_for(project)
    assert settings.bootstrap_servers == "kafka:9092" and settings.commit_interval_ms == 70  # env beats the file
    assert settings_for(project, bootstrap="flag:1", app="other").bootstrap_servers == "flag:1"
    assert settings_for(project, app="other").app == "other"


def test_missing_app_and_bad_project_keys_fail_naming_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGABRIDGE_APP", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="--name"):
        settings_for(load_project())
    bad = tmp_path / "sagabridge.toml"
    bad.write_text('[project]\nworkflow = "typo"\n')
    with pytest.raises(ConfigurationError, match="workflow"):
        load_project()
