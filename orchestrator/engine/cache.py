"""Bounded LRU of live runs, with the set touched since the last commit.

The bound is the process's (`cache_size`), not each partition's: every partition engine of a
runner has its own `RunCache` over one shared `LiveRuns`, so an instance that takes over a dead
peer's partitions keeps the same memory instead of doubling it, and a busy partition may use what
an idle one does not. An evicted run is rebuilt by replay on its next event.

An aborted checkpoint drops the buffered writes, so any run touched since the last commit may
hold in-memory state the store no longer has: those are evicted and rebuilt by replay.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from orchestrator.engine.view import Run


class LiveRuns:
    """The process-wide LRU every partition's RunCache keeps its runs in: (cache, workflow id) -> run."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("cache capacity must be >= 1")
        self.capacity = capacity
        self.runs: OrderedDict[tuple[RunCache, str], Run] = OrderedDict()

    def __len__(self) -> int:
        return len(self.runs)

    def trim(self) -> None:
        """Evict the least recently used runs, of whichever partition, down to the capacity."""
        runs = self.runs
        while len(runs) > self.capacity:
            (owner, _workflow_id), _run = runs.popitem(last=False)
            owner.count -= 1
            owner.evictions += 1


class RunCache:
    """One partition engine's runs. `capacity` makes a cache of its own (tests, tools); a runner
    passes `shared`, the process's LiveRuns, instead."""

    def __init__(self, capacity: int = 10_000, *, shared: LiveRuns | None = None) -> None:
        self._live = shared if shared is not None else LiveRuns(capacity)
        self._touched: set[str] = set()
        self.count = 0  # runs of this cache in the shared LRU
        self.evictions = 0

    def __len__(self) -> int:
        return self.count

    def __contains__(self, workflow_id: object) -> bool:
        return (self, workflow_id) in self._live.runs

    def get(self, workflow_id: str) -> Run | None:
        key = (self, workflow_id)
        runs = self._live.runs
        run = runs.get(key)
        if run is not None:
            runs.move_to_end(key)
        return run

    def put(self, workflow_id: str, run: Run) -> None:
        key = (self, workflow_id)
        runs = self._live.runs
        if key not in runs:
            self.count += 1
        runs[key] = run
        runs.move_to_end(key)
        self._live.trim()

    def touch(self, workflow_id: str) -> None:
        self._touched.add(workflow_id)

    def evict(self, workflow_id: str) -> None:
        if self._live.runs.pop((self, workflow_id), None) is not None:
            self.count -= 1

    def discard(self, workflow_ids: Iterable[str] | None) -> None:
        doomed = set(self._touched) if workflow_ids is None else set(workflow_ids)
        for wf in doomed:
            self.evict(wf)
        self._touched -= doomed

    def committed(self) -> None:
        self._touched.clear()

    def clear(self) -> None:
        """Drop every run of this cache (its partition left this engine): the memory is the next one's."""
        runs = self._live.runs
        for key in [key for key in runs if key[0] is self]:
            del runs[key]
        self.count = 0
        self._touched.clear()
