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
    """Every topic, group and directory name of one domain's shadow mode, so no caller formats its own."""

    app: str
    domain: str

    @property
    def prefix(self) -> str:
        """`<app>.shadow.<domain>`: the prefix of the domain's shadow topics."""
        return f"{self.app}.shadow.{self.domain}"

    @property
    def observations(self) -> str:
        """The domain's events re-keyed by case id (the case store's input)."""
        return f"{self.prefix}.observations"

    @property
    def changelog(self) -> str:
        """The case store's compacted changelog."""
        return f"{self.prefix}.changelog"

    @property
    def dlq(self) -> str:
        """Where events shadow cannot read go, with the reason in headers."""
        return f"{self.prefix}.dlq"

    @property
    def group(self) -> str:
        """Shadow's own consumer group (never a connector's or a service's)."""
        return f"{self.app}-shadow-{self.domain}"

    def transactional_id(self, instance_id: str) -> str:
        """Stable per instance, so a restarted instance fences its previous incarnation."""
        return f"{self.group}-{instance_id}"

    def store_dir(self, state_dir: Path) -> Path:
        """Where `shadow run` keeps its partitions: <state_dir>/<group>/<partition>/."""
        return state_dir / self.group

    def mirror_dir(self, state_dir: Path) -> Path:
        """Where `shadow report` keeps its read-only copy of the changelog (restored incrementally)."""
        return state_dir / f"{self.group}-report"


def routing_topic(app: str) -> str:
    """The compacted topic of cutover plans, switch offsets and decided cases (one per application)."""
    return f"{app}.routing"


__all__ = ["ShadowNames", "routing_topic"]
