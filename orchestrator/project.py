"""Where an `orchestrator` command gets its settings when the user gives none: one mechanism for all.

In order, highest first: command-line flags, `SAGABRIDGE_*` environment variables, the
`sagabridge.toml` found in the working directory (or the nearest parent that has one), and
last the local dev stack (`orchestrator dev up`: Kafka on 127.0.0.1:19092 unless it was started
on other ports). So on a fresh machine every command printed by `make demo`, `orchestrator init`
or the docs works as printed. See docs/cli.md.

`sagabridge.toml` holds `OrchestratorSettings` fields at the top level (relative paths are
relative to the file) and an optional `[project]` table for the commands themselves:
`workflows` (the module `run`/`replay` load by default) and `topics` (the file `topics apply`
reads by default).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from orchestrator.config import OrchestratorSettings, load_settings
from orchestrator.errors import ConfigurationError

CONFIG_FILE = "sagabridge.toml"
_PATH_SETTINGS = ("schemas_dir", "state_dir")
_ENV_PREFIX = "SAGABRIDGE_"


class ProjectSection(BaseModel):
    """The `[project]` table: defaults of the commands, not of the orchestrator."""

    model_config = ConfigDict(extra="forbid")

    workflows: str | None = None
    topics: Path | None = None


class Project(BaseModel):
    """A `sagabridge.toml` as read: where it is, its settings values and its `[project]` table."""

    path: Path | None = None
    settings: dict[str, Any] = {}
    project: ProjectSection = ProjectSection()

    @property
    def root(self) -> Path:
        """The folder the project file is in (the working directory without one)."""
        return Path.cwd() if self.path is None else self.path.parent


def find_config(start: Path | None = None) -> Path | None:
    """The `sagabridge.toml` of the working directory or its nearest parent, if any."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / CONFIG_FILE
        if candidate.is_file():
            return candidate
    return None


def load_project(config_file: Path | None = None) -> Project:
    """Read ``config_file`` (or the one `find_config` finds; none at all is fine)."""
    path = config_file if config_file is not None else find_config()
    if path is None:
        return Project()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigurationError("--config", f"{path} does not exist", "pass an existing TOML file") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(str(path), f"not valid TOML: {exc}", "fix its syntax") from exc
    table = raw.pop("project", {})
    try:
        section = ProjectSection(**table)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"{path} [project] {field}", first["msg"], "see docs/cli.md for the keys") from exc
    for key in _PATH_SETTINGS:
        if isinstance(raw.get(key), str):
            raw[key] = str((path.parent / raw[key]).resolve())
    if section.topics is not None and not section.topics.is_absolute():
        section = section.model_copy(update={"topics": path.parent / section.topics})
    return Project(path=path, settings=raw, project=section)


def dev_stack_bootstrap() -> str:
    """The dev stack's Kafka address (the ports `orchestrator dev up` saved, else the defaults)."""
    from orchestrator.devstack.stack import LocalStack

    return LocalStack("dev").bootstrap_servers


def dev_stack_registry_url() -> str:
    """The registry URL of the local dev stack (`orchestrator dev up`)."""
    from orchestrator.devstack.stack import LocalStack

    return LocalStack("dev").registry_url


def _from_env(name: str) -> str | None:
    return os.environ.get(_ENV_PREFIX + name.upper())


def resolved_value(name: str, flag: Any, project: Project) -> Any:
    """A setting by precedence flag > environment > sagabridge.toml (None when none gives it)."""
    if flag is not None:
        return flag
    env = _from_env(name)
    if env is not None:
        return env
    return project.settings.get(name)


def bootstrap_servers(flag: str | None, project: Project) -> str:
    """Kafka to talk to: flag, environment, sagabridge.toml, else the dev stack."""
    value = resolved_value("bootstrap_servers", flag, project)
    return str(value) if value else dev_stack_bootstrap()


def settings_for(
    project: Project,
    *,
    app: str | None = None,
    bootstrap: str | None = None,
    **overrides: Any,
) -> OrchestratorSettings:
    """Full orchestrator settings for a command, with the dev stack as the last resort for Kafka.

    Environment variables beat the file (the file's values are only used where no variable is set).
    """
    file_values = {k: v for k, v in project.settings.items() if _from_env(k) is None}
    values: dict[str, Any] = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}
    if app is not None:
        values["app"] = app
    values["bootstrap_servers"] = bootstrap_servers(bootstrap, project)
    if values.get("app") is None and _from_env("app") is None:
        raise ConfigurationError(
            "app",
            "no application name",
            f'pass --name, export SAGABRIDGE_APP, or set app = "..." in {CONFIG_FILE}',
        )
    return load_settings(None, **values)
