"""What Kafka accepts as a topic name, and the command-topic template every deployment sets.

One place for both the rule and the formatter, so the configuration checks exactly what the
engine will format: a template naming a placeholder the formatter does not supply must fail at
startup, not dead-letter every start with `KeyError` (issue 14).
"""

from __future__ import annotations

import re
import string

MAX_TOPIC_LENGTH = 249  # Kafka's limit
_TOPIC_CHARS = re.compile(r"^[A-Za-z0-9._-]+$")

# What `command_topic` supplies to the template: `{service}` is required, `{app}` optional.
COMMAND_TOPIC_PLACEHOLDERS = ("app", "service")
DEFAULT_COMMAND_TOPIC_TEMPLATE = "{service}.commands"


def topic_name_problem(name: str) -> str | None:
    """Why Kafka would refuse `name` as a topic, or None."""
    if not name:
        return "is empty"
    if not _TOPIC_CHARS.match(name):
        return f"{name!r} has characters other than letters, digits, '.', '_' or '-'"
    if name in (".", ".."):
        return f"{name!r} is not a valid topic name"
    if len(name) > MAX_TOPIC_LENGTH:
        return f"{name[:40]!r}... is {len(name)} characters long, Kafka allows {MAX_TOPIC_LENGTH}"
    return None


def command_topic(template: str, *, app: str, service: str) -> str:
    """The command topic of `service`: the deployment's template filled in (the one formatter)."""
    return template.format(app=app, service=service)


def command_topic_template_problem(template: str, app: str) -> str | None:
    """Why `template` cannot name the command topics of `app`, or None.

    Placeholders are checked against what `command_topic` supplies (`{app}`, `{service}`), with no
    conversions or format specs, and the result for a sample service must be a valid topic name.
    """
    try:
        fields = [
            (name, conv, spec) for _text, name, spec, conv in string.Formatter().parse(template) if name is not None
        ]
    except ValueError as exc:  # unbalanced braces
        return f"{template!r} is not a format string ({exc}); write literal braces as '{{{{' and '}}}}'"
    names = {name for name, _conv, _spec in fields}
    unknown = sorted(names - set(COMMAND_TOPIC_PLACEHOLDERS))
    if unknown:
        shown = ", ".join("{" + n + "}" if n else "{}" for n in unknown)
        return f"{template!r} uses {shown}; the placeholders supplied are {{app}} and {{service}}"
    if "service" not in names:
        return f"{template!r} has no {{service}}: every service would share one topic"
    if any(conv or spec for _name, conv, spec in fields):
        return f"{template!r} uses a conversion or format spec; write plain {{app}} / {{service}}"
    problem = topic_name_problem(command_topic(template, app=app, service="inventory"))
    return None if problem is None else f"{template!r} gives a topic name that {problem}"
