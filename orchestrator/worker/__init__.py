"""The Python participant SDK: a convenience over the plain-Kafka protocol (docs/protocol.md)."""

from orchestrator.worker.handler_errors import NonRetryableError, RetryableError
from orchestrator.worker.service import CommandContext, Service

__all__ = ["CommandContext", "NonRetryableError", "RetryableError", "Service"]
