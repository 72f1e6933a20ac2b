"""How big a chaos run is: the workload, how many faults of each kind, and the bounds of the drain.

`default` (what `make chaos` runs) finishes in a few minutes on the project's 2-core machine;
`long` (`make chaos CHAOS_SIZE=long`) is the issue's scale; `tiny` is the configuration the test
suite runs to prove the whole pipeline end to end. Every fault kind is in every size: a size that
skipped one would prove nothing about it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.config import OrchestratorSettings

# The demo workflow's steps give up an attempt after 5 s (examples/orders/workflows.py,
# ATTEMPT_TIMEOUT): an outage must outlast it, or no timeout and retry ever runs.
STEP_START_TO_CLOSE_S = 5.0
# `orchestrator run`'s default session_timeout_ms (docs/operations.md): a pause must outlast it, or
# the group never moves the paused instance's partitions and no zombie is ever fenced.
SESSION_TIMEOUT_S = OrchestratorSettings.model_fields["session_timeout_ms"].default / 1000


class ChaosSize(BaseModel):
    """One chaos configuration; every field can be overridden from the command line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    instances: int = Field(default=3, ge=2, description="orchestrator processes in the group")
    rate_per_s: float = Field(gt=0, description="workflows started per second, steadily")
    load_s: float = Field(gt=0, description="how long workflows keep arriving")
    sigkills: int = Field(ge=1, description="orchestrator SIGKILLs, each restarted like a supervisor would")
    state_wipes: int = Field(default=1, ge=1, description="instances killed and restarted with an empty state dir")
    broker_restarts: int = Field(default=1, ge=1, description="SIGKILL + restart of the (private) broker")
    service_outages: int = Field(default=1, ge=1, description="a service SIGKILLed and kept down for outage_s")
    outage_s: float = Field(description="how long a service outage lasts (> the steps' start_to_close)")
    pauses: int = Field(default=1, ge=1, description="orchestrators frozen (SIGSTOP) for pause_s, then resumed")
    pause_s: float = Field(default=12.0, description="how long a pause lasts (> the group's session timeout)")
    bad_input_per_s: float = Field(ge=0, description="duplicate, late and garbage inbox records per second")
    cancel_fraction: float = Field(default=0.05, ge=0, le=1, description="workflows cancelled at a random moment")
    decline_fraction: float = Field(default=0.08, ge=0, le=1, description="orders whose payment is declined")
    failure_rate: float = Field(default=0.03, ge=0, lt=1, description="transient failures of every service call")
    restart_delay_s: tuple[float, float] = Field(
        default=(0.5, 8.0), description="a killed process is restarted after a random delay in this range"
    )
    broker_down_s: tuple[float, float] = Field(default=(2.0, 8.0), description="how long the broker stays down")
    # Generous: a bound on "eventually", not a speed target. At load average 44 a tiny run's broker
    # took 226 s to restart and its backlog was not worked off within the 240 s this once was.
    drain_timeout_s: float = Field(default=600.0, gt=0, description="bound on waiting for every workflow to finish")

    @model_validator(mode="after")
    def _outage_outlasts_start_to_close(self) -> ChaosSize:
        if self.outage_s <= STEP_START_TO_CLOSE_S:
            raise ValueError(
                f"outage_s={self.outage_s} must exceed the steps' start_to_close ({STEP_START_TO_CLOSE_S} s), "
                "or the outage never makes an attempt time out; raise --outage-s"
            )
        return self

    @model_validator(mode="after")
    def _pause_outlasts_the_session(self) -> ChaosSize:
        if self.pause_s <= SESSION_TIMEOUT_S:
            raise ValueError(
                f"pause_s={self.pause_s} must exceed the group's session timeout ({SESSION_TIMEOUT_S} s), "
                "or the paused instance keeps its partitions and is never a zombie; raise --pause-s"
            )
        return self

    @property
    def faults(self) -> int:
        return self.sigkills + self.state_wipes + self.broker_restarts + self.service_outages + self.pauses


SIZES: dict[str, ChaosSize] = {
    "tiny": ChaosSize(
        name="tiny",
        instances=2,
        rate_per_s=4,
        load_s=30,
        sigkills=1,
        outage_s=8,
        bad_input_per_s=3,
        restart_delay_s=(0.5, 2.0),
        broker_down_s=(1.0, 3.0),
    ),
    "default": ChaosSize(
        name="default",
        rate_per_s=6,
        load_s=120,
        sigkills=5,
        outage_s=20,
        bad_input_per_s=8,
    ),
    "long": ChaosSize(
        name="long",
        rate_per_s=8,
        load_s=900,
        sigkills=10,
        state_wipes=2,
        broker_restarts=2,
        service_outages=2,
        outage_s=60,
        bad_input_per_s=10,
    ),
}
