"""What compare says about a case: conforms, or which deviations, with the evidence.

The vocabulary is fixed (enums, not strings) so reports, allow-lists and tests agree on it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class DeviationKind(StrEnum):
    """How choreography differed from what the workflow would have done."""

    MISSING_STEP = "missing_step"  # the workflow would have run a step choreography never did
    UNEXPECTED_STEP = "unexpected_step"  # choreography did a step the workflow would not have
    WRONG_ORDER = "wrong_order"  # choreography did a step before one the workflow runs first
    REPEATED_STEP = "repeated_step"  # choreography did a step more often than the workflow would
    MISSING_COMPENSATION = "missing_compensation"  # the workflow would have compensated; choreography did not
    UNEXPECTED_COMPENSATION = "unexpected_compensation"  # choreography compensated; the workflow would not

    @property
    def label(self) -> str:
        """The kind as people read it in the report."""
        return {
            DeviationKind.MISSING_STEP: "missing step",
            DeviationKind.UNEXPECTED_STEP: "unexpected step",
            DeviationKind.WRONG_ORDER: "wrong order",
            DeviationKind.REPEATED_STEP: "repeated step",
            DeviationKind.MISSING_COMPENSATION: "compensation the workflow would have run",
            DeviationKind.UNEXPECTED_COMPENSATION: "compensation the workflow would not have run",
        }[self]


class Verdict(StrEnum):
    """A case's outcome of compare."""

    CONFORMS = "conforms"
    DEVIATES = "deviates"
    IN_PROGRESS = "in_progress"  # not judged yet: events may still come (idle < stall_after)
    NOT_STARTED = "not_started"  # no event of the case starts the workflow: nothing to compare with


@dataclass(frozen=True)
class Deviation:
    """One difference between what choreography did and what the workflow would have done."""

    kind: DeviationKind
    service: str
    step: str  # command type (full Avro name)
    activity: str | None = None  # the event type that evidences it (None: nothing was observed)
    detail: str = ""
    allowed_by: str | None = None  # the allow rule's reason, when an allow rule silences it

    @property
    def step_name(self) -> str:
        """The command type's short name (`CreateShipment`)."""
        return self.step.rsplit(".", 1)[-1]

    def describe(self) -> str:
        """One line for the report: kind, service, step and the evidencing event."""
        what = f"{self.kind.label}: {self.service} {self.step_name}"
        return f"{what} ({self.activity})" if self.activity else what


@dataclass
class CaseResult:
    """One case judged against the workflow."""

    case_id: str
    verdict: Verdict
    deviations: list[Deviation] = field(default_factory=list)
    allowed: list[Deviation] = field(default_factory=list)  # silenced by the allow-list
    workflow_status: str | None = None  # where the sandboxed run ended (completed, compensated, ...)
    commands: list[str] = field(default_factory=list)  # what the workflow would have sent, in order
    retries: int = 0  # attempts beyond the first the workflow would have made (timing, not a deviation)

    @property
    def kinds(self) -> set[DeviationKind]:
        """The deviation kinds this case shows."""
        return {d.kind for d in self.deviations}


__all__ = ["CaseResult", "Deviation", "DeviationKind", "Verdict"]
