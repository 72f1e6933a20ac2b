"""Kafka security settings: one model, three spellings, every mistake named before connecting."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from orchestrator.config import load_settings
from orchestrator.devstack.certificates import write_tls_material
from orchestrator.errors import ConfigurationError
from orchestrator.transport.connection import load_connection
from orchestrator.transport.security import KafkaSecurity, SaslMechanism, SecurityProtocol, client_properties

SECRET = "s3cr3t-pa55"


@pytest.fixture
def ca(tmp_path: Path) -> Path:
    """A real CA certificate: librdkafka loads the file when the settings are validated."""
    return write_tls_material(tmp_path / "tls").ca


def sasl_ssl(ca: Path) -> KafkaSecurity:
    return KafkaSecurity(
        protocol=SecurityProtocol.SASL_SSL,
        sasl_mechanism=SaslMechanism.SCRAM_SHA_512,
        sasl_username="app",
        sasl_password=SecretStr(SECRET),
        ssl_ca_location=ca,
    )


def test_environment_toml_and_raw_properties_mean_the_same(
    ca: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sasl_ssl(ca)
    for name, value in expected.environment().items():
        monkeypatch.setenv(name, value)
    from_env = load_settings(None, app="a", bootstrap_servers="b:9092")
    for name in expected.environment():
        monkeypatch.delenv(name)
    toml = tmp_path / "orchestrator.toml"
    toml.write_text(
        'app = "a"\nbootstrap_servers = "b:9092"\n[kafka]\n"security.protocol" = "sasl_ssl"\n'
        f'"sasl.mechanism" = "SCRAM-SHA-512"\n"sasl.username" = "app"\n"sasl.password" = "{SECRET}"\n'
        f'"ssl.ca.location" = "{ca}"\n"session.timeout.ms" = "6000"\n'
    )
    from_toml = load_settings(toml)
    assert from_env.security == from_toml.security == expected
    assert from_toml.kafka == {"session.timeout.ms": "6000"}  # the rest passes through untouched
    assert from_toml.client_properties() == {**expected.client_properties(), "session.timeout.ms": "6000"}
    assert expected.client_properties()["ssl.endpoint.identification.algorithm"] == "https"


def test_secrets_never_show_in_a_repr(ca: Path) -> None:
    settings = load_settings(None, app="a", bootstrap_servers="b", security=sasl_ssl(ca))
    assert SECRET not in repr(settings) and SECRET not in str(settings.model_dump())
    assert settings.client_properties()["sasl.password"] == SECRET  # only what goes to librdkafka has it


@pytest.mark.parametrize(
    ("security", "setting", "hint"),
    [
        ({"protocol": "SASL_SSL"}, "security.sasl_mechanism", "SCRAM-SHA-512"),
        (
            {"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-256", "sasl_username": "u"},
            "security.sasl_password",
            "",
        ),
        ({"protocol": "PLAINTEXT", "sasl_username": "u"}, "security.sasl_username", "does not use SASL"),
        (
            {
                "protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
                "sasl_password": "p",
                "ssl_ca_location": "/etc/hostname",
            },
            "security.ssl_ca_location",
            "does not use TLS",
        ),
        ({"protocol": "SSL", "ssl_ca_location": "/nonexistent/ca.pem"}, "security.ssl_ca_location", "does not exist"),
        ({"protocol": "SSL", "ssl_certificate_location": "/etc/hostname"}, "security.ssl_key_location", "both"),
        ({"protocol": "TLS"}, "security.protocol", "SASL_SSL"),
        ({"protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-1"}, "security.sasl_mechanism", "SCRAM-SHA-512"),
    ],
)
def test_each_mistake_is_named_with_its_variable(security: dict[str, str], setting: str, hint: str) -> None:
    with pytest.raises(ConfigurationError) as err:
        load_settings(None, app="a", bootstrap_servers="b", security=security)
    assert err.value.setting == setting
    assert hint in err.value.problem
    assert "SAGABRIDGE_" + setting.upper().replace(".", "__") in err.value.fix


def test_what_only_librdkafka_can_tell_is_refused_before_connecting(ca: Path, tmp_path: Path) -> None:
    """A CA file that exists but is no certificate passes the field checks; librdkafka refuses to load
    it when a client is built, so the settings ask it then, and the error names `security`."""
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("-----BEGIN CERTIFICATE-----\n")
    with pytest.raises(ConfigurationError) as err:
        load_settings(
            None, app="a", bootstrap_servers="b", security={**sasl_ssl(ca).model_dump(), "ssl_ca_location": not_pem}
        )
    assert err.value.setting == "security"
    assert "librdkafka refuses" in err.value.problem and "ssl.ca.location" in err.value.problem
    assert "SAGABRIDGE_SECURITY__*" in err.value.fix
    assert load_settings(None, app="a", bootstrap_servers="b", security=sasl_ssl(ca)).security == sasl_ssl(ca)


def test_both_spellings_of_one_setting_must_agree(ca: Path) -> None:
    with pytest.raises(ConfigurationError, match="disagree"):
        load_settings(None, app="a", bootstrap_servers="b", security=sasl_ssl(ca), kafka={"sasl.username": "other"})
    same = load_settings(None, app="a", bootstrap_servers="b", security=sasl_ssl(ca), kafka={"sasl.username": "app"})
    assert same.security == sasl_ssl(ca) and same.kafka == {}


def test_constructor_arguments_are_validated_like_settings(ca: Path) -> None:
    """WorkflowClient(extra_config=...) and Service(security=...) share this path."""
    merged = client_properties(None, {"security.protocol": "SSL", "ssl.ca.location": str(ca), "linger.ms": "1"})
    assert merged == {
        "security.protocol": "SSL",
        "ssl.ca.location": str(ca),
        "ssl.endpoint.identification.algorithm": "https",
        "linger.ms": "1",
    }
    with pytest.raises(ValidationError, match="ssl_ca_location"):
        client_properties(None, {"security.protocol": "SSL", "ssl.ca.location": "/nonexistent.pem"})
    assert client_properties(sasl_ssl(ca), {"sasl.password": SECRET}) == sasl_ssl(ca).client_properties()
    assert client_properties() == {"security.protocol": "PLAINTEXT"}


def test_connection_settings_alone_serve_the_cli(ca: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in sasl_ssl(ca).environment().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SAGABRIDGE_BOOTSTRAP_SERVERS", "from-env:9093")
    connection = load_connection(bootstrap_servers=None)
    assert connection.bootstrap_servers == "from-env:9093" and connection.security == sasl_ssl(ca)
    monkeypatch.delenv("SAGABRIDGE_BOOTSTRAP_SERVERS")
    with pytest.raises(ConfigurationError) as err:
        load_connection()
    assert err.value.setting == "bootstrap_servers" and "SAGABRIDGE_BOOTSTRAP_SERVERS" in err.value.fix


def test_the_environment_beats_sagabridge_toml_key_by_key(
    ca: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from orchestrator.project import connection_for, load_project, settings_for

    config = tmp_path / "sagabridge.toml"
    config.write_text(
        'app = "shop"\nbootstrap_servers = "file:9093"\n[security]\nprotocol = "SASL_SSL"\n'
        'sasl_mechanism = "SCRAM-SHA-512"\nsasl_username = "app"\nsasl_password = "from-file"\n'
        f'ssl_ca_location = "{ca}"\n'
    )
    monkeypatch.setenv("SAGABRIDGE_SECURITY__SASL_PASSWORD", SECRET)
    project = load_project(config)
    for settings in (settings_for(project), connection_for(project)):
        assert settings.security == sasl_ssl(ca)  # the password from the environment, the rest from the file
        assert settings.bootstrap_servers == "file:9093"
