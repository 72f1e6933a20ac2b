"""A real local Kafka (KRaft) + Confluent-compatible schema registry, without Docker.

Artifacts come from Maven Central through the `mvn` client into a cache outside the repo,
so every developer machine, CI run and new user gets the same pinned broker with one command.
"""

from orchestrator.devstack.stack import LocalStack, StackPorts, StackStatus, throwaway_stack

__all__ = ["LocalStack", "StackPorts", "StackStatus", "throwaway_stack"]
