"""A domain as shadow mode sees it: the mapping file, its `[shadow]` table, names and schemas.

One loader for every command (`shadow run|report|compare`, `cutover`) and for compare's worker
processes, so they all read the same file the same way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.bridge.mapping import ConnectorConfig, InboxRecordKind, load_connector_file
from orchestrator.bridge.runtime import format_serdes, schema_repository
from orchestrator.config import OrchestratorSettings
from orchestrator.errors import ConfigurationError
from orchestrator.serialization import AvroSerde, SchemaRepository, SingleObjectSerde, make_serde
from orchestrator.shadow.names import ShadowNames
from orchestrator.shadow.sandbox import Sandbox
from orchestrator.shadow.settings import ShadowSettings, shadow_settings
from orchestrator.workflow import WorkflowRegistry


@dataclass(frozen=True)
class SandboxSpec:
    """What a compare worker process needs to build the same sandbox: files and names, nothing live."""

    mapping_file: Path
    workflows_module: str
    settings: dict[str, Any]
    environ: dict[str, str]


@dataclass(frozen=True)
class Domain:
    """One mapping file as shadow mode reads it: the connector config, its [shadow] table, names, schemas and serde."""

    path: Path
    config: ConnectorConfig
    shadow: ShadowSettings
    names: ShadowNames
    repo: SchemaRepository
    serde: AvroSerde  # observations and case store: the settings' framing

    def workflow_type(self, wanted: str | None = None) -> str:
        """The workflow the domain's cases are compared with / cut over to."""
        if wanted:
            return wanted
        if self.shadow.cutover is not None:
            return self.shadow.cutover.workflow_type
        types = sorted(
            {t.workflow_type for t in self.config.triggers if t.kind is not InboxRecordKind.SIGNAL and t.workflow_type}
        )
        if len(types) == 1:
            return types[0]
        raise ConfigurationError(
            "--workflow-type",
            f"{self.path} starts {len(types)} workflow types ({', '.join(types) or 'none'})",
            "pass --workflow-type NAME (or set [shadow.cutover] workflow_type)",
        )


def load_domain(path: Path, settings: OrchestratorSettings) -> Domain:
    """Load and validate a mapping file for shadow mode (fails fast naming the setting)."""
    config = load_connector_file(path)
    shadow = shadow_settings(config, str(path))
    repo = schema_repository(settings, config.schemas_dir)
    serde = make_serde(settings.framing, repo, settings.schema_registry_url)
    return Domain(path, config, shadow, ShadowNames(config.app or settings.app, config.domain), repo, serde)


def load_workflows(module: str) -> WorkflowRegistry:
    """The WorkflowRegistry of an `--app` module, found as `orchestrator run` finds it, for compare's sandbox."""
    from orchestrator.engine.cli import load_registry

    return load_registry(module)


def build_sandbox(spec: SandboxSpec) -> Sandbox:
    """The sandbox of a compare run (or of one of its worker processes)."""
    os.environ.update(spec.environ)
    settings = OrchestratorSettings(**spec.settings)
    domain = load_domain(spec.mapping_file, settings)
    registry = load_workflows(spec.workflows_module)
    serdes = format_serdes(settings, (s.format for s in domain.config.sources), domain.repo, "compare")
    # The sandbox's own records never leave the process: registry-less framing, whatever the app uses.
    return Sandbox(domain.config, registry, domain.repo, SingleObjectSerde(domain.repo), serdes)


__all__ = ["Domain", "SandboxSpec", "build_sandbox", "load_domain", "load_workflows"]
