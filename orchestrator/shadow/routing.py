"""Cutover routing, the pure part: plans, the business-key hash rule, and the routing topic's keys.

The routing topic `<app>.routing` (compacted) holds, per workflow type:

    plan/<type>/<version>                      CutoverPlan   every version (the history survives compaction)
    switch/<type>/<version>/<topic>/<partition> SwitchRecord  where a connector began applying that version
    case/<case id>                             CaseRoute     a case the workflow drives

A NEW case (its start event) is routed live when its id is in the plan's key list or its hash
bucket (0..9999, SHA-256 of the case id) is below the plan's share. Every later event of a case
follows the route its start took: live when a CaseRoute exists, choreography otherwise. So a
case is handled by one side only and finishes where it started, whatever plans come after.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from orchestrator.engine.keys import escape_id
from orchestrator.models.shadow import CutoverAction, CutoverPlan

BASIS_POINTS = 10_000
PLAN = b"plan/"
SWITCH = b"switch/"
CASE = b"case/"
_VERSION_WIDTH = 10


def bucket(case_id: str) -> int:
    """A stable 0..9999 bucket of the business key (the same in every process and language)."""
    digest = hashlib.sha256(case_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BASIS_POINTS


def routes_live(plan: CutoverPlan | None, case_id: str) -> bool:
    """Whether a new case starting under `plan` is the workflow's. No plan: choreography's."""
    if plan is None or plan.action is CutoverAction.ROLLBACK:
        return False
    return case_id in plan.keys or bucket(case_id) < plan.share_bp


def share_bp(share: float) -> int:
    """0.25 -> 2500; refuses what is not a share."""
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"share must be between 0 and 1, got {share}")
    return round(share * BASIS_POINTS)


def plan_key(workflow_type: str, version: int) -> bytes:
    """Key of one plan version; zero-padded so versions sort in order."""
    return PLAN + f"{escape_id(workflow_type)}/{version:0{_VERSION_WIDTH}d}".encode()


def plan_prefix(workflow_type: str) -> bytes:
    """Prefix of every plan version of `workflow_type`."""
    return PLAN + escape_id(workflow_type).encode() + b"/"


def switch_key(workflow_type: str, version: int, topic: str, partition: int) -> bytes:
    """Key of the record saying where a connector began applying `version` on one source partition."""
    return SWITCH + f"{escape_id(workflow_type)}/{version:0{_VERSION_WIDTH}d}/{escape_id(topic)}/{partition}".encode()


def switch_prefix(workflow_type: str) -> bytes:
    """Prefix of every switch record of `workflow_type`."""
    return SWITCH + escape_id(workflow_type).encode() + b"/"


def case_key(case_id: str) -> bytes:
    """Key of a decided case's route."""
    return CASE + escape_id(case_id).encode()


@dataclass(frozen=True)
class PlanHistory:
    """Every version of one workflow type's plan, oldest first."""

    workflow_type: str
    versions: tuple[CutoverPlan, ...]

    @property
    def current(self) -> CutoverPlan | None:
        """The plan in force: the latest version, or None before the first."""
        return self.versions[-1] if self.versions else None

    @property
    def next_version(self) -> int:
        """The version the next `cutover set|rollback` writes."""
        return 1 if not self.versions else int(self.versions[-1].version) + 1

    def ever_live(self, case_id: str) -> bool:
        """Could some version have routed this case live? If not, no lookup is needed."""
        return any(routes_live(p, case_id) for p in self.versions)


__all__ = [
    "BASIS_POINTS",
    "PlanHistory",
    "bucket",
    "case_key",
    "plan_key",
    "plan_prefix",
    "routes_live",
    "share_bp",
    "switch_key",
    "switch_prefix",
]
