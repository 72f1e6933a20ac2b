"""Counters the hot path can afford: a dict increment now, an OTel observation at collection time.

A synchronous OTel `Counter.add` cleans, hashes and aggregates its attributes on every call (some
microseconds in the Python SDK, as much as a whole inbox record costs in parts of the engine). A
`Tally` keeps plain cumulative counts keyed by a tuple of attribute values instead, and an
asynchronous (observable) counter reports them when a reader collects (a Prometheus scrape, an OTLP
export), which is where the SDK's cost belongs. Reads come from the collecting thread while the
owner's thread writes; `list(dict.items())` copies under the GIL, and counts only grow.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.util.types import AttributeValue

Key = tuple[AttributeValue | None, ...]


class Tally:
    """Cumulative counts per attribute-value tuple, reported by an observable counter (`observe`)."""

    __slots__ = ("_attributes", "_constants", "_names", "counts")

    def __init__(self, attribute_names: Sequence[str], constants: Mapping[str, AttributeValue] | None = None) -> None:
        """`constants`: attributes every point carries (`messaging.system=kafka`)."""
        self._names = tuple(attribute_names)
        self._constants = dict(constants or {})
        self._attributes: dict[Key, dict[str, AttributeValue]] = {}
        self.counts: dict[Key, float] = {}

    def add(self, key: Key, amount: float = 1) -> None:
        """Count `amount` for the attribute values `key` (in `attribute_names` order; None: omitted)."""
        counts = self.counts
        counts[key] = counts.get(key, 0) + amount

    def attributes(self, key: Key) -> dict[str, AttributeValue]:
        """The attribute dict of `key`, built once per distinct key (also for synchronous histograms)."""
        found = self._attributes.get(key)
        if found is None:
            found = dict(self._constants)
            found.update((name, value) for name, value in zip(self._names, key, strict=True) if value is not None)
            self._attributes[key] = found
        return found

    def total(self, **match: AttributeValue) -> float:
        """The sum of the counts whose attributes include `match` (tests, the CLI)."""
        return sum(
            count
            for key, count in list(self.counts.items())
            if all(self.attributes(key).get(name) == value for name, value in match.items())
        )

    def observe(self, _options: CallbackOptions) -> Iterable[Observation]:
        """The observable counter's callback."""
        return [Observation(count, self.attributes(key)) for key, count in list(self.counts.items())]


def tally_counter(
    meter: Meter,
    name: str,
    unit: str,
    description: str,
    attribute_names: Sequence[str],
    constants: Mapping[str, AttributeValue] | None = None,
) -> Tally:
    """A `Tally` exported as the observable counter `name`."""
    tally = Tally(attribute_names, constants)
    meter.create_observable_counter(name, [tally.observe], unit=unit, description=description)
    return tally


GaugeReading = Callable[[], Iterable[tuple[float, dict[str, AttributeValue]]]]


def reading_gauge(meter: Meter, name: str, unit: str, description: str, reading: GaugeReading) -> None:
    """An observable gauge whose values come from `reading()` at collection time."""

    def observe(_options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, attributes) for value, attributes in reading()]

    meter.create_observable_gauge(name, [observe], unit=unit, description=description)
