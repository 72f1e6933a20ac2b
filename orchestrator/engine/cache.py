"""Bounded LRU of live runs, with the set touched since the last commit.

An aborted checkpoint drops the buffered writes, so any run touched since the last commit may
hold in-memory state the store no longer has: those are evicted and rebuilt by replay.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from orchestrator.engine.view import Run


class RunCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("cache capacity must be >= 1")
        self._capacity = capacity
        self._runs: OrderedDict[str, Run] = OrderedDict()
        self._touched: set[str] = set()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._runs)

    def __contains__(self, workflow_id: object) -> bool:
        return workflow_id in self._runs

    def get(self, workflow_id: str) -> Run | None:
        run = self._runs.get(workflow_id)
        if run is not None:
            self._runs.move_to_end(workflow_id)
        return run

    def put(self, workflow_id: str, run: Run) -> None:
        self._runs[workflow_id] = run
        self._runs.move_to_end(workflow_id)
        while len(self._runs) > self._capacity:
            self._runs.popitem(last=False)
            self.evictions += 1

    def touch(self, workflow_id: str) -> None:
        self._touched.add(workflow_id)

    def evict(self, workflow_id: str) -> None:
        self._runs.pop(workflow_id, None)

    def discard(self, workflow_ids: Iterable[str] | None) -> None:
        doomed = set(self._touched) if workflow_ids is None else set(workflow_ids)
        for wf in doomed:
            self._runs.pop(wf, None)
        self._touched -= doomed

    def committed(self) -> None:
        self._touched.clear()
