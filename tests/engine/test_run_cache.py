"""The run cache: one LRU bound for every partition of a process, each partition's runs its own."""

from __future__ import annotations

import pytest

from orchestrator.engine.cache import LiveRuns, RunCache
from orchestrator.engine.state_records import Header
from orchestrator.engine.view import Run, RunView
from orchestrator.workflow.status import WorkflowStatus


def run(workflow_id: str) -> Run:
    header = Header(workflow_id, "t", WorkflowStatus.RUNNING, 0, 0, 0)
    return Run(header=header, view=RunView(), instance=None)


def test_partitions_share_one_bound_and_evict_the_least_recently_used_of_any() -> None:
    live = LiveRuns(3)
    a, b = RunCache(shared=live), RunCache(shared=live)
    a1, b1 = run("a1"), run("b1")
    a.put("1", a1)
    b.put("1", b1)  # the same workflow id in another partition is another run
    a.put("2", run("a2"))
    assert a.get("1") is a1  # a1 used again: b1 is the oldest now
    b.put("2", run("b2"))
    assert len(live) == 3 and (len(a), len(b)) == (2, 1)
    assert "1" not in b and b.evictions == 1 and a.evictions == 0
    assert "1" in a and "2" in a and "2" in b


def test_clear_drops_one_partition_only_and_frees_its_share() -> None:
    live = LiveRuns(4)
    a, b = RunCache(shared=live), RunCache(shared=live)
    for wf in ("1", "2"):
        a.put(wf, run(wf))
        b.put(wf, run(wf))
    a.touch("1")
    a.clear()
    assert len(a) == 0 and len(b) == 2 and len(live) == 2
    a.discard(None)  # nothing touched is left to drop
    b.put("3", run("3"))
    b.put("4", run("4"))
    assert len(b) == 4 and b.evictions == 0  # the cleared share went to the partition still here


def test_discard_after_an_abort_drops_only_what_this_partition_touched() -> None:
    live = LiveRuns(10)
    a, b = RunCache(shared=live), RunCache(shared=live)
    for wf in ("1", "2"):
        a.put(wf, run(wf))
        b.put(wf, run(wf))
    a.touch("1")
    b.touch("2")
    a.discard(None)
    assert "1" not in a and "2" in a and "1" in b and "2" in b
    b.committed()
    b.discard(None)
    assert len(b) == 2


def test_a_cache_of_its_own_without_a_shared_bound() -> None:
    cache = RunCache(2)
    for wf in ("1", "2", "3"):
        cache.put(wf, run(wf))
    assert len(cache) == 2 and "1" not in cache and cache.evictions == 1
    cache.put("3", run("3"))  # replacing a run is not a new entry
    assert len(cache) == 2
    with pytest.raises(ValueError, match=">= 1"):
        LiveRuns(0)
