"""The SASL_SSL dev stack's parts that need no broker: certificates, credentials, the profile switch."""

from __future__ import annotations

import ipaddress
import json
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from orchestrator.cli import main
from orchestrator.devstack import LocalStack, StackPorts
from orchestrator.devstack.certificates import ensure_tls_material, write_tls_material
from orchestrator.devstack.secure_broker import SecureBroker, StackSecurity
from orchestrator.devstack.stack import SECURE_PORTS
from orchestrator.errors import StackError


def _verify(ca: Path, broker: Path, name: DNSName | IPAddress) -> None:
    leaf, *chain = x509.load_pem_x509_certificates(broker.read_bytes())
    store = Store(x509.load_pem_x509_certificates(ca.read_bytes()))
    PolicyBuilder().store(store).build_server_verifier(name).verify(leaf, chain)


def test_broker_certificate_is_trusted_through_the_ca_for_loopback_names(tmp_path: Path) -> None:
    material = write_tls_material(tmp_path)
    _verify(material.ca, material.broker, DNSName("localhost"))
    _verify(material.ca, material.broker, IPAddress(ipaddress.ip_address("127.0.0.1")))
    with pytest.raises(VerificationError):  # hostname verification has something to refuse
        _verify(material.ca, material.broker, DNSName("example.com"))
    other = write_tls_material(tmp_path / "other")
    with pytest.raises(VerificationError):  # another session's CA does not vouch for this broker
        _verify(other.ca, material.broker, DNSName("localhost"))
    assert stat.S_IMODE(material.broker.stat().st_mode) == 0o600  # it holds the broker's private key
    assert b"PRIVATE KEY" not in material.ca.read_bytes()


def test_tls_material_is_kept_while_valid_and_renewed_before_expiry(tmp_path: Path) -> None:
    first = ensure_tls_material(tmp_path)
    kept = ensure_tls_material(tmp_path)
    assert kept.ca.read_bytes() == first.ca.read_bytes()
    short = write_tls_material(tmp_path, days=1).ca.read_bytes()  # inside the renewal margin
    assert ensure_tls_material(tmp_path).ca.read_bytes() != short


def test_credentials_are_made_once_per_stack_and_never_lost(tmp_path: Path) -> None:
    prepared = SecureBroker.prepare(tmp_path, formatted=False)
    again = SecureBroker.prepare(tmp_path, formatted=True)
    assert again.credentials == prepared.credentials
    assert stat.S_IMODE((tmp_path / "security" / "credentials.json").stat().st_mode) == 0o600
    args = prepared.format_arguments()
    assert args[::2] == ["--add-scram", "--add-scram"]
    assert f"SCRAM-SHA-512=[name=sagabridge,password={prepared.credentials.password}]" in args
    security = prepared.client_security()
    assert security.client_properties()["sasl.password"] == prepared.credentials.password
    assert prepared.credentials.password not in repr(security)
    (tmp_path / "security" / "credentials.json").unlink()
    with pytest.raises(StackError, match="cannot be recovered"):
        SecureBroker.prepare(tmp_path, formatted=True)


def test_a_formatted_stack_keeps_the_security_it_was_created_with(tmp_path: Path) -> None:
    directory = tmp_path / "s"
    (directory / "kafka" / "data").mkdir(parents=True)
    (directory / "kafka" / "data" / "meta.properties").write_text("formatted\n")
    (directory / "stack.json").write_text(
        json.dumps({"ports": {"kafka": 1, "controller": 2, "registry": 3}, "security": "plaintext"})
    )
    with pytest.raises(StackError, match="another --name"):
        LocalStack("s", root=tmp_path, security=StackSecurity.SASL_SSL).up()
    assert LocalStack("s", root=tmp_path).security is StackSecurity.PLAINTEXT
    assert LocalStack("fresh", root=tmp_path, security=StackSecurity.SASL_SSL).ports == SECURE_PORTS
    assert LocalStack("fresh-plain", root=tmp_path).ports == StackPorts()


def test_dev_status_of_the_secure_stack_uses_its_own_name_and_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SAGABRIDGE_CACHE", str(tmp_path))
    assert main(["dev", "status", "--security", "sasl-ssl"]) == 1  # not running
    status = json.loads(capsys.readouterr().out)
    assert status["directory"] == str(tmp_path / "stacks" / "secure")
    assert status["bootstrap_servers"] == f"127.0.0.1:{SECURE_PORTS.kafka}"
    assert status["security"] == "sasl-ssl"
