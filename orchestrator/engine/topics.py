"""Where the engine's outbound records go."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngineTopics:
    """Topic names of one application. ``service_topics`` overrides the command topic per service
    (for services that own a differently named topic); otherwise ``command_topic_template``."""

    inbox: str
    events: str
    dlq: str
    command_topic_template: str = "{service}.commands"
    service_topics: Mapping[str, str] = field(default_factory=dict)

    def command_topic(self, service: str) -> str:
        return self.service_topics.get(service) or self.command_topic_template.format(service=service)
