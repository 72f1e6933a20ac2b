"""Topic, group and directory names of shadow mode for one domain, in one place.

<app>.shadow.<domain>.observations   events re-keyed by case id (delete policy)
<app>.shadow.<domain>.changelog      the case store (compacted; co-partitioned with observations)
<app>.shadow.<domain>.dlq            events shadow could not read (reason in headers)
<app>-shadow-<domain>                its consumer group (never a connector's or a service's)
<app>.routing                        cutover: plans, switch offsets, live cases (compacted)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ShadowNames:
    app: str
    domain: str

    @property
    def prefix(self) -> str:
        return f"{self.app}.shadow.{self.domain}"

    @property
    def observations(self) -> str:
        return f"{self.prefix}.observations"

    @property
    def changelog(self) -> str:
        return f"{self.prefix}.changelog"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.dlq"

    @property
    def group(self) -> str:
        return f"{self.app}-shadow-{self.domain}"

    def transactional_id(self, instance_id: str) -> str:
        return f"{self.group}-{instance_id}"

    def store_dir(self, state_dir: Path) -> Path:
        """Where `shadow run` keeps its partitions: <state_dir>/<group>/<partition>/."""
        return state_dir / self.group

    def mirror_dir(self, state_dir: Path) -> Path:
        """Where `shadow report` keeps its read-only copy of the changelog (restored incrementally)."""
        return state_dir / f"{self.group}-report"


def routing_topic(app: str) -> str:
    return f"{app}.routing"


__all__ = ["ShadowNames", "routing_topic"]
