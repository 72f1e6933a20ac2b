"""Read what a meter provider exports: an InMemoryMetricReader's points, or a Prometheus scrape."""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from prometheus_client.parser import text_string_to_metric_families


def memory_provider() -> tuple[MeterProvider, InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


def points(reader: InMemoryMetricReader, name: str) -> list[tuple[dict[str, Any], Any]]:
    """(attributes, value) of every point of `name`; a histogram's value is its data point."""
    data = reader.get_metrics_data()
    found: list[tuple[dict[str, Any], Any]] = []
    for resource in data.resource_metrics if data is not None else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        value = point if isinstance(point, HistogramDataPoint) else getattr(point, "value", point)
                        found.append((dict(point.attributes or {}), value))
    return found


def matching(reader: InMemoryMetricReader, name: str, match: Mapping[str, Any] | None = None) -> list[Any]:
    """The values of `name`'s points whose attributes include `match`."""
    return [value for attributes, value in points(reader, name) if _includes(attributes, match)]


def total(reader: InMemoryMetricReader, name: str, match: Mapping[str, Any] | None = None) -> float:
    """The sum of `name`'s points whose attributes include `match` (a histogram counts its observations)."""
    return sum(v.count if isinstance(v, HistogramDataPoint) else v for v in matching(reader, name, match))


def _includes(attributes: Mapping[str, Any], match: Mapping[str, Any] | None) -> bool:
    return all(attributes.get(k) == v for k, v in (match or {}).items())


def scrape(url: str, timeout_s: float = 10) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Prometheus text exposition of `url`: sample name -> [(labels, value)]."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        text = response.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), float(sample.value)))
    return samples


def scraped_total(
    samples: Mapping[str, list[tuple[dict[str, str], float]]], name: str, match: Mapping[str, str] | None = None
) -> float:
    """The sum of a scraped sample's values whose labels include `match`."""
    return sum(value for labels, value in samples.get(name, []) if _includes(labels, match))
