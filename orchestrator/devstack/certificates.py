"""TLS material for a local broker: a throwaway CA and a broker certificate it signs, as PEM.

Made with `cryptography` in-process, so a fresh machine needs nothing beyond the JDK the broker
runs on (no openssl/keytool invocations to get right per platform). Kafka reads PEM key and trust
stores directly (`ssl.keystore.type=PEM`), librdkafka reads the CA file (`ssl.ca.location`).
The CA's private key is never written: it signs the broker certificate and is dropped, so nothing
on disk can mint another certificate the clients would trust.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS = ("localhost", "127.0.0.1")
DEFAULT_DAYS = 365
# Regenerate when the broker certificate would expire within this margin.
RENEW_BEFORE = datetime.timedelta(days=7)
_CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class TlsMaterial:
    """`ca` is what clients trust; `broker` holds the broker's key, certificate and the CA (PEM)."""

    ca: Path
    broker: Path

    def valid_until(self) -> datetime.datetime | None:
        """When the broker certificate expires; None when the files are missing or unreadable."""
        try:
            cert = x509.load_pem_x509_certificates(self.broker.read_bytes())[0]
        except (OSError, ValueError, IndexError):
            return None
        return cert.not_valid_after_utc


def ensure_tls_material(directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS, days: int = DEFAULT_DAYS) -> TlsMaterial:
    """The material under `directory`, (re)made when missing or close to expiry. Idempotent."""
    material = TlsMaterial(directory / "ca.pem", directory / "broker.pem")
    expires = material.valid_until()
    if material.ca.exists() and expires is not None and expires - RENEW_BEFORE > _now():
        return material
    return write_tls_material(directory, hosts, days)


def write_tls_material(
    directory: Path, hosts: Sequence[str] = DEFAULT_HOSTS, days: int = DEFAULT_DAYS, ca_name: str = "SagaBridge dev CA"
) -> TlsMaterial:
    """A new CA and a broker certificate for `hosts` (DNS names or IP addresses) signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    now = _now()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, ca_name)])
    ca_cert = (
        _builder(ca_subject, ca_subject, ca_key.public_key(), now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    broker_cert = (
        _builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]),
            ca_subject,
            broker_key.public_key(),
            now,
            days,
        )
        .add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        # clientAuth too: the broker presents the same certificate when it calls its own controller.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    key_pem = broker_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    material = TlsMaterial(directory / "ca.pem", directory / "broker.pem")
    _write(material.ca, ca_pem, 0o644)
    _write(material.broker, key_pem + broker_cert.public_bytes(serialization.Encoding.PEM) + ca_pem, 0o600)
    return material


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePublicKey, now: datetime.datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not cert_sign,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write through a temporary file so a reader never sees half a PEM, with the mode set first."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(tmp, mode)
    tmp.replace(path)
