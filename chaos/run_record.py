"""What a chaos run records besides the committed topics: its faults, its processes, its load.

Saved as `run.json` in the run's directory next to the committed log and the processes' logs, so
`python -m chaos audit <dir>` can judge a kept run again without a broker.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from chaos.sizes import ChaosSize

RUN_FILE = "run.json"
LOGS_DIR = "logs"


class FaultKind(StrEnum):
    """The faults a chaos run injects."""

    SIGKILL = "sigkill"  # an orchestrator instance SIGKILLed, restarted after a delay
    STATE_WIPE = "state-wipe"  # SIGKILLed, its state dir removed, restarted: a full restore
    BROKER_RESTART = "broker-restart"  # the broker SIGKILLed, down a few seconds, started again
    SERVICE_OUTAGE = "service-outage"  # a service SIGKILLed and kept down past its steps' start_to_close
    PAUSE = "pause"  # an orchestrator frozen (SIGSTOP) past its session timeout, then SIGCONT: a zombie


class FaultRecord(BaseModel):
    """One injected fault: when, at which point of committed progress, on what, until when."""

    kind: FaultKind
    target: str
    progress: int = Field(description="committed step completions seen when the fault was injected")
    started_ms: int
    healed_ms: int = Field(description="when the target was back (restarted, broker up, service up)")
    partitions: list[int] = Field(default_factory=list, description="inbox partitions the target owned")
    detail: str = ""


class LivenessSample(BaseModel):
    """An instance's liveness file as read during the run (its counters restart with each process)."""

    instance: str
    at_ms: int
    status: dict[str, Any]


class ProcessExit(BaseModel):
    """A supervised process that ended without being told to, and was restarted."""

    name: str
    at_ms: int
    returncode: int | None


class LoadRecord(BaseModel):
    """What the workload sent: the ids it started, the cancels it asked for, the bad input by kind."""

    workflow_type: str
    started_ids: list[str] = Field(default_factory=list)
    cancel_requested: list[str] = Field(default_factory=list)
    flush_errors: int = 0
    bad_input: dict[str, int] = Field(default_factory=dict)
    started_ms: int = 0
    ended_ms: int = 0


class RunRecord(BaseModel):
    """Everything about one run that is not on a topic."""

    run_id: str
    started_at: str
    command: str
    seed: int
    size: ChaosSize
    app: str
    partitions: int
    topics: dict[str, str] = Field(description="topic name -> role (committed_log.TopicRole)")
    instances: list[str]
    services: list[str]
    machine: dict[str, Any] = Field(default_factory=dict)
    load: LoadRecord
    faults: list[FaultRecord] = Field(default_factory=list)
    liveness: list[LivenessSample] = Field(default_factory=list)
    exits: list[ProcessExit] = Field(default_factory=list)
    drained_s: float | None = Field(default=None, description="seconds from the end of the load until all finished")
    seconds: float = 0.0
    error: str | None = Field(default=None, description="why the run could not finish, if it could not")

    def save(self, directory: Path) -> Path:
        path = directory / RUN_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path

    @staticmethod
    def load_from(directory: Path) -> RunRecord:
        return RunRecord.model_validate_json((directory / RUN_FILE).read_text())
