"""The `[visibility]` section of the settings: where the store lives, the API's address and tokens.

It sits inside OrchestratorSettings (config.py), so one TOML file and one set of `SAGABRIDGE_*`
variables serve the orchestrator and `orchestrator visibility serve` alike:
`SAGABRIDGE_VISIBILITY__STORE_URL=postgresql://...`,
`SAGABRIDGE_VISIBILITY__OPERATE_TOKENS='{"alice": "s3cret"}'`.

Tokens map a name (the identity recorded with every action, e.g. `OperatorActionApplied.operator`)
to its secret. Operate tokens may read too. With no token configured at all, `serve` makes one of
each for this run and prints them, so a fresh machine works without any setting and still never
serves an open API.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

_TOKEN_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_TOKEN_CHARS = 16


class VisibilityConfig(BaseModel):
    """`[visibility]`: the store, the HTTP API's address and tokens, and their deadlines."""

    model_config = ConfigDict(extra="forbid")

    store_url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://user@host/db; default sqlite:///<state_dir>/visibility/<app>.sqlite3",
    )
    host: str = Field(default="127.0.0.1", description="address the HTTP API listens on")
    port: int = Field(default=8787, ge=0, le=65_535, description="HTTP port (0: any free port)")
    read_tokens: dict[str, SecretStr] = Field(default_factory=dict, description="name -> bearer token for reads")
    operate_tokens: dict[str, SecretStr] = Field(
        default_factory=dict, description="name -> bearer token for reads and operator actions"
    )
    statement_timeout_s: float = Field(default=10.0, gt=0, le=600, description="deadline of every database call")
    request_timeout_s: float = Field(default=10.0, gt=0, le=600, description="deadline of every broker call")
    batch_max: int = Field(default=5_000, ge=1, le=100_000, description="events per ingest transaction at most")
    ingest: bool = Field(default=True, description="false: serve the API only (another process feeds the store)")
    jaeger_url: str | None = Field(default=None, description="Jaeger UI base URL; trace links are built from it")

    @field_validator("read_tokens", "operate_tokens")
    @classmethod
    def _tokens(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, secret in value.items():
            if not _TOKEN_NAME.match(name):
                raise ValueError(
                    f"token name {name!r} must be 1-64 letters, digits or ._@- (it is recorded as who acted)"
                )
            if len(secret.get_secret_value()) < MIN_TOKEN_CHARS:
                raise ValueError(f"token {name!r} is shorter than {MIN_TOKEN_CHARS} characters; use a random one")
        return value

    def resolved_store_url(self, state_dir: Path, app: str) -> str:
        """The store URL, defaulting to a SQLite file per app under the state dir."""
        if self.store_url:
            return self.store_url
        return f"sqlite:///{(state_dir / 'visibility' / f'{app}.sqlite3').resolve()}"
