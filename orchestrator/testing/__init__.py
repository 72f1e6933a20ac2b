"""Test workflows without Kafka: the real engine core in process, fake services, skipping time,
and a replayer that runs recorded histories against new code. See docs/testing.md.
"""

from orchestrator.testing.environment import WorkflowEnvironment
from orchestrator.testing.histories import RecordedHistory, read_export, write_export
from orchestrator.testing.outputs import EmittedEvent, Output, SentCommand
from orchestrator.testing.replayer import Divergence, Replayer, ReplayFailure, ReplayReport
from orchestrator.testing.run import WorkflowRun
from orchestrator.testing.services import Fail, FakeService, NoReply, Succeed
from orchestrator.workflow.status import WorkflowStatus

__all__ = [
    "Divergence",
    "EmittedEvent",
    "Fail",
    "FakeService",
    "NoReply",
    "Output",
    "RecordedHistory",
    "ReplayFailure",
    "ReplayReport",
    "Replayer",
    "SentCommand",
    "Succeed",
    "WorkflowEnvironment",
    "WorkflowRun",
    "WorkflowStatus",
    "read_export",
    "write_export",
]
