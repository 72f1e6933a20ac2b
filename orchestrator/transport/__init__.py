"""The Kafka edge: typed clients, their configuration, record types, headers, DLQ, changelog restore.

`confluent_kafka` is imported here and in a few edges that talk to Kafka for their users (the
engine's runner shell, `client.py`, `worker/`, the registry serde, `devstack/`); `workflow/`,
`state/` and the engine core never import it (docs/architecture.md, enforced by `make lint`).
Modules without a Kafka client (`records.py`, `header_names.py`, `dlq.py`, `partitioning.py`)
are shared with the pure layers.
"""
