"""The real registry speaks the Confluent API that confluent_kafka.schema_registry uses."""

from __future__ import annotations

import json
from collections.abc import Callable

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient


def test_schema_registered_through_confluent_client_is_fetched_back_by_id(
    schema_registry_url: str, unique_name: Callable[[str], str]
) -> None:
    client = SchemaRegistryClient({"url": schema_registry_url})
    subject = unique_name("probe") + "-value"
    definition = {
        "type": "record",
        "name": "Probe",
        "namespace": "sagabridge.test",
        "fields": [{"name": "id", "type": "string"}, {"name": "n", "type": "long"}],
    }
    schema_id = client.register_schema(subject, Schema(json.dumps(definition), "AVRO"))
    assert schema_id > 0

    fresh = SchemaRegistryClient({"url": schema_registry_url})  # no client-side cache
    fetched = fresh.get_schema(schema_id)
    assert json.loads(fetched.schema_str or "null")["name"] == "Probe"
    assert fresh.get_latest_version(subject).schema_id == schema_id
    assert subject in fresh.get_subjects()
