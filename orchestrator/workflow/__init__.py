"""Workflow authoring API and the deterministic runtime the engine drives.

Pure Python: never imports Kafka, RocksDB or the engine. See docs/workflows.md.
"""

from orchestrator.workflow.activation import ErrorInfo, EventKind, HistoryEvent, WorkflowCommand
from orchestrator.workflow.context import WorkflowContext, WorkflowInfo
from orchestrator.workflow.definition import WorkflowDefinition, WorkflowRegistry, default_registry, workflow
from orchestrator.workflow.instance import WorkflowInstance
from orchestrator.workflow.policy import RetryPolicy
from orchestrator.workflow.saga import Saga
from orchestrator.workflow.status import WorkflowStatus

__all__ = [
    "ErrorInfo",
    "EventKind",
    "HistoryEvent",
    "RetryPolicy",
    "Saga",
    "WorkflowCommand",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowInfo",
    "WorkflowInstance",
    "WorkflowRegistry",
    "WorkflowStatus",
    "default_registry",
    "workflow",
]
