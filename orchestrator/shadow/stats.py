"""Shadow mode's counters: what was read, observed, filtered, dead-lettered, de-duplicated, reordered.

Added to the committed totals only when their transaction commits (like the connector's), so a
replayed batch is never counted twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


@dataclass
class ShadowStats:
    """What shadow run did with what it read (committed totals and one checkpoint's pending counts)."""

    events: int = 0  # domain records read
    observed: int = 0  # observations produced (an event of two cases counts twice)
    filtered: int = 0  # events no trigger, outcome or case rule correlates (counted, not errors)
    dead_lettered: int = 0  # undecodable, or a correlation key the event cannot fill
    applied: int = 0  # observations added to a case
    cases: int = 0  # new cases
    duplicates: int = 0  # an event (message id) the case already had: dropped
    out_of_order: int = 0  # happened before an event of its case that arrived earlier: kept, in time order
    late: int = 0  # arrived more than `grace` behind its partition's stream time: kept, flagged
    by_activity: dict[str, int] = field(default_factory=dict)
    by_reason: dict[str, int] = field(default_factory=dict)

    def count(self, table: dict[str, int], name: str) -> None:
        """Count one more `name` in `table`."""
        table[name] = table.get(name, 0) + 1

    def add(self, other: ShadowStats) -> None:
        """Fold `other` (a committed checkpoint's counts) into these totals."""
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                for name, n in theirs.items():
                    mine[name] = mine.get(name, 0) + n
            else:
                setattr(self, f.name, mine + theirs)

    def as_json(self) -> dict[str, object]:
        """The counters as JSON (the stats line and `--stats-file`)."""
        return asdict(self)


__all__ = ["ShadowStats"]
