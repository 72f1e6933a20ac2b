"""Bearer tokens from configuration: a read token for reads, an operate token for actions.

The token's configured name is the caller's identity: it is what the engine records as the
`operator` of an action and the `sent_by` of a signal. Secrets are compared in constant time and
never logged. No token (or an unknown one) is 401; a read token on an action is 403.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr


class Role(StrEnum):
    """What a token allows."""

    READ = "read"
    OPERATE = "operate"  # may read too


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the configured token name is the identity recorded with their actions."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        """Whether this caller may do what `role` allows (an operate token reads too)."""
        return self.role is Role.OPERATE or role is Role.READ


class TokenAuth:
    """The configured bearer tokens, checked in constant time."""

    def __init__(self, read: Mapping[str, SecretStr], operate: Mapping[str, SecretStr]) -> None:
        self._tokens: list[tuple[bytes, Caller]] = [
            (secret.get_secret_value().encode(), Caller(name, Role.OPERATE)) for name, secret in operate.items()
        ] + [(secret.get_secret_value().encode(), Caller(name, Role.READ)) for name, secret in read.items()]

    @property
    def configured(self) -> bool:
        """Whether any token is configured (serve generates a pair when none is)."""
        return bool(self._tokens)

    def identify(self, token: str | None) -> Caller | None:
        """The caller a bearer token belongs to, or None. Every configured token is compared,
        so the time taken says nothing about which (if any) matched."""
        if not token:
            return None
        given = token.encode()
        found: Caller | None = None
        for secret, caller in self._tokens:
            if hmac.compare_digest(secret, given) and found is None:
                found = caller
        return found


def generated_tokens() -> tuple[dict[str, SecretStr], dict[str, SecretStr]]:
    """One read and one operate token for a run that has none configured (printed at startup)."""
    return {"local-read": SecretStr(secrets.token_urlsafe(24))}, {
        "local-operator": SecretStr(secrets.token_urlsafe(24))
    }
