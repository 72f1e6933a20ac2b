"""The demo's topics for one app: topics/orders.toml, with the command topics under the app's name.

The services of an app consume `<app>.<service>.commands` (examples/orders/services.py), so several
demo (or chaos) runs on one broker never share a topic.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator.admin.topic_specs import ApplyReport, TopicRole, apply, load_topic_set
from orchestrator.transport.admin import KafkaAdmin

TOPICS_FILE = Path(__file__).resolve().parents[2] / "topics" / "orders.toml"


def apply_demo_topics(admin: KafkaAdmin, app: str) -> ApplyReport:
    """Create (idempotently) the inbox, changelog, events, DLQ and command topics of `app`."""
    topic_set = load_topic_set(TOPICS_FILE, app=app)
    topics = tuple(
        t.model_copy(update={"name": f"{app}.{t.name}"}) if t.role is TopicRole.COMMANDS else t
        for t in topic_set.topics
    )
    return apply(admin, topic_set.model_copy(update={"topics": topics}))
