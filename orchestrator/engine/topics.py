"""Where the engine's outbound records go."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from orchestrator.topic_names import DEFAULT_COMMAND_TOPIC_TEMPLATE, command_topic


@dataclass(frozen=True)
class EngineTopics:
    """Topic names of one application. ``service_topics`` overrides the command topic per service
    (for services that own a differently named topic); otherwise ``command_topic_template``, with
    ``{service}`` and ``{app}`` (``app``) filled in (orchestrator.topic_names)."""

    inbox: str
    events: str
    dlq: str
    command_topic_template: str = DEFAULT_COMMAND_TOPIC_TEMPLATE
    service_topics: Mapping[str, str] = field(default_factory=dict)
    app: str = ""

    def command_topic(self, service: str) -> str:
        return self.service_topics.get(service) or command_topic(
            self.command_topic_template, app=self.app, service=service
        )
