"""Test workflows without Kafka: the real engine core in process, fake services, skipping time,
and a replayer that runs recorded histories against new code. See docs/testing.md.
"""

from orchestrator.testing.environment import WorkflowEnvironment
from orchestrator.testing.outputs import EmittedEvent, Output, SentCommand
from orchestrator.testing.run import WorkflowRun
from orchestrator.testing.services import Fail, FakeService, NoReply, Succeed
from orchestrator.testing.status import WorkflowStatus

__all__ = [
    "EmittedEvent",
    "Fail",
    "FakeService",
    "NoReply",
    "Output",
    "SentCommand",
    "Succeed",
    "WorkflowEnvironment",
    "WorkflowRun",
    "WorkflowStatus",
]
