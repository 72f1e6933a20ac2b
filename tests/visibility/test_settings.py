"""Visibility settings: tokens and the store from the environment, the dev stack by default, and
bad values refused at startup naming the setting."""

from __future__ import annotations

import pytest

from orchestrator.config import load_settings
from orchestrator.errors import ConfigurationError
from orchestrator.project import Project, dev_stack_bootstrap, settings_for
from orchestrator.visibility.database import open_engine
from orchestrator.visibility.server import tokens_for


def test_tokens_and_store_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAGABRIDGE_VISIBILITY__OPERATE_TOKENS", '{"alice": "0123456789abcdefXYZ"}')
    monkeypatch.setenv("SAGABRIDGE_VISIBILITY__STORE_URL", "postgresql://sb@db.internal/visibility")
    settings = load_settings(None, app="orders", bootstrap_servers="k:9092")
    assert settings.visibility.operate_tokens["alice"].get_secret_value() == "0123456789abcdefXYZ"
    assert "0123456789abcdefXYZ" not in repr(settings)  # secrets never print
    assert settings.visibility.resolved_store_url(settings.state_dir, settings.app).startswith("postgresql://")
    tokens = tokens_for(settings)
    assert not tokens.generated and list(tokens.operate) == ["alice"]


def test_no_tokens_configured_means_generated_ones_never_an_open_api() -> None:
    tokens = tokens_for(load_settings(None, app="orders", bootstrap_servers="k:9092"))
    assert tokens.generated and len(tokens.read) == len(tokens.operate) == 1
    assert all(len(s.get_secret_value()) >= 16 for s in [*tokens.read.values(), *tokens.operate.values()])


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("SAGABRIDGE_VISIBILITY__READ_TOKENS", '{"bob": "short"}', "visibility.read_tokens"),
        ("SAGABRIDGE_VISIBILITY__OPERATE_TOKENS", '{"bad name!": "0123456789abcdefXYZ"}', "visibility.operate_tokens"),
        ("SAGABRIDGE_VISIBILITY__PORT", "70000", "visibility.port"),
    ],
)
def test_bad_values_fail_at_startup_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, setting: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, app="orders", bootstrap_servers="k:9092")
    assert err.value.setting.startswith(setting)


@pytest.mark.parametrize("url", ["mysql://x/y", "sqlite://", "not a url at all"])
def test_unusable_store_urls_are_refused_by_name(url: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        open_engine(url)
    assert err.value.setting == "visibility.store_url"


def test_nothing_configured_means_the_dev_stack_and_the_default_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAGABRIDGE_BOOTSTRAP_SERVERS", raising=False)
    settings = settings_for(Project(), app="orders")
    assert settings.bootstrap_servers == dev_stack_bootstrap()
    url = settings.visibility.resolved_store_url(settings.state_dir, settings.app)
    assert url.startswith("sqlite:///") and url.endswith("/visibility/orders.sqlite3")
