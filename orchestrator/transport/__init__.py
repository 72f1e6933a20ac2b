"""Kafka transport: the only layer that imports confluent_kafka."""
