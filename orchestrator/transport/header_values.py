"""Protocol header values read exactly as the orchestrator writes them (docs/protocol.md).

Participants echo `sb-command-id` and `sb-attempt` byte for byte, so any other spelling is a
protocol error to dead-letter, never something to interpret generously. (What a topic name may
be, e.g. for `sb-reply-to`, is `orchestrator.topic_names`.)
"""

from __future__ import annotations

# Header numbers are written by the orchestrator; anything longer did not come from it.
_MAX_DIGITS = 18


def parse_number(value: str | None) -> int | None:
    """A header number exactly as the orchestrator writes it (`0`, `1`, `42`), else None.

    Python's int() also takes ' 7', '+7', '7_0', '007' and non-ASCII digits. A participant must
    echo headers byte for byte, so any other spelling is a protocol error, not a number.
    """
    if value is None or not value.isascii() or not value.isdigit() or len(value) > _MAX_DIGITS:
        return None
    if value != "0" and value.startswith("0"):
        return None
    return int(value)
