"""The bridge inside `orchestrator run`: settings `connectors = ["connectors/shop.toml", ...]`.

Two things come from the same mapping files:
- the **command router** for native participants, handed to every PartitionEngine, so their
  commands are produced in the orchestrator's checkpoint transaction;
- the **inbound connectors** (triggers and outcomes), run as threads of the process unless
  `connectors_embedded = false` (then run them with `orchestrator connectors run`).

An embedded connector keeps its own consumer group and transactional producer: source partitions
are not co-partitioned with the inbox (an event's workflow usually lives on another instance's
inbox partition), so sharing the engine's transaction would buy nothing; its effects reach the
engines through the inbox, exactly once, like any other writer's.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol

from orchestrator.bridge.check import MappingChecker
from orchestrator.bridge.errors import MappingCheckError
from orchestrator.bridge.mapping import ConnectorConfig, load_connector_file
from orchestrator.bridge.outbound import NativeCommandRouter
from orchestrator.bridge.runtime import ConnectorRuntime, format_serdes, require_topics, schema_repository
from orchestrator.config import OrchestratorSettings
from orchestrator.engine.outbox import CommandRouter
from orchestrator.errors import ConfigurationError
from orchestrator.serialization import AvroSerde
from orchestrator.transport.deadline import NO_WATCH, CallWatch
from orchestrator.workflow import WorkflowRegistry

log = logging.getLogger(__name__)


def load_configs(settings: OrchestratorSettings) -> list[ConnectorConfig]:
    """The mapping files named by the `connectors` setting, parsed and validated (fails fast)."""
    return [load_connector_file(path) for path in settings.connectors]


def command_router(
    settings: OrchestratorSettings, configs: list[ConnectorConfig], serde: AvroSerde
) -> NativeCommandRouter | None:
    """One router over every file's participants; None when no file declares any."""
    participants = [p for c in configs for p in c.participants]
    if not participants:
        return None
    seen: dict[str, str] = {}
    for c in configs:
        for p in c.participants:
            if p.service in seen and seen[p.service] != c.domain:
                raise ConfigurationError(
                    "connectors",
                    f"participant {p.service!r} is declared by {seen[p.service]!r} and {c.domain!r}",
                    "declare each native participant in one mapping file",
                )
            seen[p.service] = c.domain
    repo = schema_repository(settings, [d for c in configs for d in c.schemas_dir])
    formats = (m.format for p in participants for m in p.commands)
    value_serdes = format_serdes(settings, formats, repo, "a native participant's command mapping")
    return NativeCommandRouter(participants, serde, repo, value_serdes, source=f"sagabridge/{settings.app}")


class EmbeddedConnectors:
    """The inbound connectors of `settings.connectors`, as daemon threads of this process."""

    def __init__(self, settings: OrchestratorSettings, configs: list[ConnectorConfig], serde: AvroSerde,
                 on_failure: Callable[[BaseException], None] | None = None,
                 watch: CallWatch = NO_WATCH) -> None:  # fmt: skip
        """`watch`: the host's watchdog, which guards the connectors' broker calls as its own."""
        self.runtimes = [
            ConnectorRuntime(settings, c, inbox_serde=serde, watch=watch) for c in configs if c.source_topics
        ]
        self._threads: list[threading.Thread] = []
        self._on_failure = on_failure
        self.errors: list[BaseException] = []

    def start(self) -> None:
        """One daemon thread per connector; a connector that dies calls `on_failure` (the host stops)."""
        for runtime in self.runtimes:
            thread = threading.Thread(
                target=self._run, args=(runtime,), name=f"bridge-{runtime.config.domain}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _run(self, runtime: ConnectorRuntime) -> None:
        try:
            runtime.run()
        except BaseException as exc:  # surfaced to the process: a dead connector must not go unnoticed
            log.exception("connector %s stopped", runtime.config.domain)
            self.errors.append(exc)
            if self._on_failure is not None:
                self._on_failure(exc)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Ask every connector to finish its transaction and leave its group, then wait for them.

        Bounded by `timeout_s` per thread: a connector stuck on a dead broker must not hold the
        process's shutdown (its transaction is aborted by the broker when the process exits).
        """
        for runtime in self.runtimes:
            runtime.stop()
        for thread in self._threads:
            thread.join(timeout_s)


class _Host(Protocol):
    """What the bridge needs from the orchestrator process it runs in (engine/runner.Orchestrator)."""

    serde: AvroSerde
    command_router: CommandRouter | None

    @property
    def watchdog(self) -> CallWatch: ...

    def stop(self) -> None: ...


def start_embedded(settings: OrchestratorSettings, registry: WorkflowRegistry, host: _Host) -> EmbeddedConnectors:
    """Check every mapping file (workflow types included), install the command router, start the
    inbound connectors. Any mapping problem fails the process before it consumes anything."""
    configs = load_configs(settings)
    problems = []
    for config in configs:
        repo = schema_repository(settings, config.schemas_dir)
        problems += MappingChecker(repo, registry.names()).check(config).errors
    if problems:
        raise MappingCheckError(problems)
    command_topics = [m.topic for c in configs for p in c.participants for m in p.commands]
    if command_topics:
        require_topics(settings, command_topics, "native participants' command mappings")
    host.command_router = command_router(settings, configs, host.serde)
    embedded = EmbeddedConnectors(
        settings,
        configs if settings.connectors_embedded else [],
        host.serde,
        on_failure=lambda _exc: host.stop(),
        watch=host.watchdog,
    )
    embedded.start()
    return embedded


__all__ = ["EmbeddedConnectors", "command_router", "load_configs", "start_embedded"]
