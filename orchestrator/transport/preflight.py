"""A bounded startup check that the brokers accept this client's settings.

librdkafka reports a refused password or an untrusted certificate only asynchronously, through
the error callback, and then reconnects forever: a process built on it would start "fine" and wait
silently. Every component runs this check before it builds its long-lived clients: one round
trip to the cluster with the same connection and security properties. The first authentication or TLS
error ends it with a typed error naming the setting and the fix; classification is by librdkafka's
error code, never by its message text. A broker that does not answer at all fails after the
deadline with `BrokerUnreachableError`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeoutError
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient

from orchestrator.errors import (
    BrokerConnectionError,
    BrokerUnreachableError,
    ConfigurationError,
    KafkaAuthenticationError,
    KafkaTlsError,
)

# A single metadata request is short; polling in slices lets the error callback end the wait early.
_SLICE_S = 0.5
# librdkafka: SASL refused (bad credentials, unknown user, mechanism not enabled on the broker).
# The broker's own SASL_AUTHENTICATION_FAILED is wrapped into _AUTHENTICATION by librdkafka, but
# accept it too so a future librdkafka that passes it through is classified the same.
AUTH_CODES = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED})
_TLS_CODES = frozenset({KafkaError._SSL})
_METADATA_WAIT_S = 3.0  # per metadata attempt; an auth error still ends the check after the attempt
# Connection properties worth passing to the probe; the rest (consumer/producer tuning) would only
# make librdkafka warn that they do not apply to an admin client.
_CONNECTION_PREFIXES = (
    "security.",
    "sasl.",
    "ssl.",
    "socket.",
    "broker.",
    "client.",
    "enable.ssl",
    "reconnect.",
    "oauth_cb",
)


def verify_connection(
    bootstrap_servers: str,
    properties: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    *,
    component: str = "client",
) -> None:
    """Return once a broker answered; raise a BrokerConnectionError otherwise."""
    config: dict[str, str | int | float | bool] = {
        k: v for k, v in (properties or {}).items() if k.startswith(_CONNECTION_PREFIXES)
    }
    errors: list[KafkaError] = []
    lock = threading.Lock()

    def on_error(error: KafkaError) -> None:
        with lock:
            errors.append(error)

    # librdkafka would log each failed attempt too; the error we raise says it once, with the fix.
    config.setdefault("log_level", 0)
    try:
        admin = AdminClient({**config, "bootstrap.servers": bootstrap_servers}, error_cb=on_error)
    except KafkaException as exc:  # librdkafka refused a property value before connecting
        raise ConfigurationError(
            "kafka",
            f"{component}: librdkafka rejected the client configuration: {exc.args[0].str()}",
            "correct or remove the property it names",
        ) from exc
    deadline = time.monotonic() + timeout_s
    last: KafkaError | None = None
    probe = _ClusterProbe(admin)
    while True:
        try:
            if probe.answered(max(0.01, min(_SLICE_S, deadline - time.monotonic())), deadline):
                return
        except KafkaException as exc:
            error = exc.args[0]
            failure = classify_connection_error(error, bootstrap_servers, component)
            if failure is not None:
                raise failure from exc
            last = error
        admin.poll(0)  # serves the error callback
        with lock:
            seen, errors[:] = list(errors), []
        for error in seen:
            failure = classify_connection_error(error, bootstrap_servers, component)
            if failure is not None:
                raise failure
            last = error
        if time.monotonic() >= deadline:
            raise _unreachable(bootstrap_servers, component, timeout_s, last)


class _ClusterProbe:
    """One cheap round trip: DescribeCluster (Kafka >= 2.8), else a metadata request.

    DescribeCluster answers with the brokers only; a metadata request for all topics costs a second
    on a cluster of a few thousand topics, and one for a named topic may auto-create it.
    """

    _UNSUPPORTED = frozenset({KafkaError._UNSUPPORTED_FEATURE, KafkaError.UNSUPPORTED_VERSION})
    # DescribeCluster first waits for librdkafka to learn the controller; on a loaded cluster that
    # wait can time out while a metadata request (no controller needed) is answered: fall back to it.
    _FALL_BACK = _UNSUPPORTED | {KafkaError._TIMED_OUT}
    _REQUEST_TIMEOUT_S = 10.0  # per attempt, so a slow first attempt leaves time for another

    def __init__(self, admin: AdminClient) -> None:
        self._admin = admin
        self._pending: Future[Any] | None = None
        self._describe = True

    def answered(self, wait_s: float, deadline: float) -> bool:
        """True once a broker answered; raises KafkaException for a failed attempt."""
        if not self._describe:  # a metadata request is answered whole or not at all: give it seconds
            self._admin.list_topics(timeout=max(wait_s, min(_METADATA_WAIT_S, deadline - time.monotonic())))
            return True
        if self._pending is None:
            left = deadline - time.monotonic()
            self._pending = self._admin.describe_cluster(request_timeout=max(1.0, min(self._REQUEST_TIMEOUT_S, left)))
        try:
            self._pending.result(timeout=wait_s)
            return True
        except FutureTimeoutError:
            return False
        except KafkaException as exc:
            self._pending = None  # the next call sends a new request
            if exc.args[0].code() in self._FALL_BACK:
                self._describe = False
                return False
            raise


def classify_connection_error(
    error: KafkaError, bootstrap_servers: str, component: str
) -> BrokerConnectionError | None:
    """An authentication or TLS error as its typed startup failure; None for anything transient."""
    code = error.code()
    detail = error.str()
    if code in AUTH_CODES:
        return KafkaAuthenticationError(
            "security.sasl_username / security.sasl_password",
            f"{component}: the broker at {bootstrap_servers} refused the SASL credentials ({detail})",
            "set the user and password the cluster knows (SAGABRIDGE_SECURITY__SASL_USERNAME, "
            "SAGABRIDGE_SECURITY__SASL_PASSWORD) and a mechanism the broker enables "
            "(SAGABRIDGE_SECURITY__SASL_MECHANISM, e.g. SCRAM-SHA-512)",
            code,
            detail,
        )
    if code in _TLS_CODES:
        return KafkaTlsError(
            "security.ssl_ca_location",
            f"{component}: the TLS handshake with {bootstrap_servers} failed ({detail})",
            "point SAGABRIDGE_SECURITY__SSL_CA_LOCATION at the PEM file of the CA that signed the broker "
            "certificate, and connect by a host name or IP the certificate lists",
            code,
            detail,
        )
    return None


def _unreachable(
    bootstrap_servers: str, component: str, timeout_s: float, last: KafkaError | None
) -> BrokerUnreachableError:
    detail = "no error reported" if last is None else last.str()
    return BrokerUnreachableError(
        "bootstrap_servers",
        f"{component}: no broker at {bootstrap_servers} answered within {timeout_s:g}s (last: {detail})",
        "check SAGABRIDGE_BOOTSTRAP_SERVERS, that the broker runs, and that SAGABRIDGE_SECURITY__PROTOCOL "
        "matches its listener (a SASL_SSL listener drops PLAINTEXT clients without an error); "
        "raise connect_timeout_s for a slow network",
        None if last is None else last.code(),
        detail,
    )
