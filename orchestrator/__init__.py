"""SagaBridge: Kafka-native durable workflow orchestration.

The authoring API is re-exported here; everything Kafka-specific lives in submodules.
"""

from orchestrator.workflow import (
    RetryPolicy,
    WorkflowContext,
    WorkflowRegistry,
    default_registry,
    workflow,
)

__version__ = "0.1.0"

__all__ = ["RetryPolicy", "WorkflowContext", "WorkflowRegistry", "__version__", "default_registry", "workflow"]
