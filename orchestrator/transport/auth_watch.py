"""Notice, while running, that the brokers keep refusing this process's credentials.

The startup check (transport/preflight.py) catches a wrong password before any client is built.
Credentials that stop working later (a rotated password, a deleted SCRAM user) show up only in
librdkafka's error callback as `_AUTHENTICATION`, while every call that needs a new connection
just times out, exactly like a broker outage; and an outage is waited out (engine/runner.py
`_retry`), so the process would retry forever with a fresh liveness file. Waiting cannot fix
credentials. So each long-lived client reports its errors here, and the owner calls
`raise_if_refused()` where it would otherwise retry or keep polling: the process then ends with
KafkaAuthenticationError (exit status 2), naming the settings and the fix, and a supervisor's
restart meets the startup check, which says the same at once.

One refusal may be a broker that is still starting; `REFUSALS_TO_FAIL` of them with no success
in between (`succeeded()`: a commit, a delivered reply) are not. Only authentication counts: a TLS
error mid-run can be a connection cut during its handshake, so it stays an outage (the startup
check is where an untrusted CA fails). Classified by librdkafka's error code, never message text.
"""

from __future__ import annotations

import threading

from confluent_kafka import KafkaError

from orchestrator.errors import KafkaAuthenticationError
from orchestrator.transport.preflight import AUTH_CODES, classify_connection_error

REFUSALS_TO_FAIL = 3


class AuthenticationWatch:
    """Counts the brokers' refusals of our credentials since the last success (thread-safe: error
    callbacks run on librdkafka's threads and on whichever thread polls)."""

    def __init__(self, bootstrap_servers: str, component: str, refusals_to_fail: int = REFUSALS_TO_FAIL) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._component = component
        self._refusals_to_fail = refusals_to_fail
        self._lock = threading.Lock()
        self._refusals = 0
        self._last: KafkaError | None = None

    def observe(self, error: KafkaError) -> None:
        """An error callback (`error_cb`) of a client: counts authentication refusals, ignores the rest."""
        if error.code() not in AUTH_CODES:
            return
        with self._lock:
            self._refusals += 1
            self._last = error

    def succeeded(self) -> None:
        """A broker accepted us (a commit, a delivered record): earlier refusals were transient."""
        with self._lock:
            self._refusals = 0
            self._last = None

    @property
    def refusals(self) -> int:
        with self._lock:
            return self._refusals

    def raise_if_refused(self) -> None:
        """Raise KafkaAuthenticationError once the refusals since the last success reach the limit."""
        with self._lock:
            refusals, last = self._refusals, self._last
        if last is None or refusals < self._refusals_to_fail:
            return
        failure = classify_connection_error(last, self._bootstrap_servers, f"{self._component} (while running)")
        assert isinstance(failure, KafkaAuthenticationError)  # AUTH_CODES classify as authentication
        raise failure
