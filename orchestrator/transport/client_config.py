"""Check librdkafka properties when the configuration is read, not when a client is built later.

librdkafka validates names and values only when a client is created: a typo in a `kafka`
passthrough property would otherwise surface as a KafkaException from deep inside startup
(or, for a client created late, minutes in). A throwaway producer without bootstrap servers
connects to nothing and runs the same checks (names are global to librdkafka, so consumer
properties are checked too).
"""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException, Producer


def client_config_problem(properties: Mapping[str, str]) -> str | None:
    """What librdkafka refuses in `properties` (an unknown name, a bad value), or None."""
    if not properties:
        return None
    try:
        probe = Producer({**properties, "log_level": 0})  # silent: its warnings are not the user's
    except KafkaException as exc:
        error = exc.args[0] if exc.args else exc
        message = str(error.str()) if isinstance(error, KafkaError) else str(exc)
        return message.removeprefix("Failed to create producer: ")
    except (TypeError, ValueError) as exc:
        return str(exc)
    del probe
    return None
