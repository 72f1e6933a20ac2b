"""The chaos run's pure parts: the committed-log file, the fault plan, the recovery figures, the sizes,
and `python -m chaos audit` judging a run directory (verdict, exit status, results files). No broker."""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from chaos import committed_log
from chaos.__main__ import EXIT_FAILED, main
from chaos.committed_log import LoggedRecord, TopicRole
from chaos.faults import LAST, MIN_THRESHOLD, plan
from chaos.recovery_times import _largest_gap
from chaos.run_record import FaultKind
from chaos.sizes import SESSION_TIMEOUT_S, SIZES, STEP_START_TO_CLOSE_S, ChaosSize
from orchestrator.transport.records import InboundRecord
from tests.chaos.log_builder import LogBuilder

records = st.builds(
    InboundRecord,
    topic=st.text(min_size=1, max_size=20),
    partition=st.integers(0, 64),
    offset=st.integers(0, 2**40),
    key=st.none() | st.binary(max_size=32),
    value=st.none() | st.binary(max_size=64),
    headers=st.lists(st.tuples(st.text(max_size=12), st.binary(max_size=16)), max_size=4).map(tuple),
    timestamp_ms=st.integers(0, 2**45),
)


@settings(max_examples=50, deadline=None)
@given(entries=st.lists(st.tuples(st.sampled_from(list(TopicRole)), records), max_size=20))
def test_the_committed_log_file_gives_back_every_record_byte_for_byte(
    entries: list[tuple[TopicRole, InboundRecord]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("log") / committed_log.FILE_NAME
    logged = [LoggedRecord(role, record) for role, record in entries]
    assert committed_log.write(path, logged) == len(logged)
    assert committed_log.read(path) == logged


@settings(max_examples=50, deadline=None)
@given(
    counts=st.tuples(*[st.integers(1, 4)] * 5),
    expected_steps=st.integers(0, 50_000),
    seed=st.integers(0, 2**32),
)
def test_the_plan_has_every_fault_of_the_size_in_order_of_progress(
    counts: tuple[int, int, int, int, int], expected_steps: int, seed: int
) -> None:
    kills, wipes, restarts, outages, pauses = counts
    size = SIZES["tiny"].model_copy(
        update={
            "sigkills": kills,
            "state_wipes": wipes,
            "broker_restarts": restarts,
            "service_outages": outages,
            "pauses": pauses,
        }
    )
    schedule = plan(size, random.Random(seed), expected_steps)
    kinds = [f.kind for f in schedule]
    assert {k: kinds.count(k) for k in FaultKind} == {
        FaultKind.SIGKILL: kills,
        FaultKind.STATE_WIPE: wipes,
        FaultKind.BROKER_RESTART: restarts,
        FaultKind.SERVICE_OUTAGE: outages,
        FaultKind.PAUSE: pauses,
    }
    thresholds = [f.threshold for f in schedule]
    assert thresholds == sorted(thresholds)
    assert all(MIN_THRESHOLD <= t <= max(MIN_THRESHOLD, int(LAST * expected_steps)) for t in thresholds)


@given(
    stamps=st.lists(st.integers(0, 10_000), max_size=30),
    start=st.integers(0, 10_000),
    length=st.integers(0, 10_000),
)
def test_the_pause_is_the_longest_wait_for_progress_in_the_window(stamps: list[int], start: int, length: int) -> None:
    end = start + length
    inside = sorted(s for s in stamps if start < s <= end)
    points = [start, *inside] if inside else [start, end]
    brute = max(b - a for a, b in itertools.pairwise(points))
    assert _largest_gap(sorted(stamps), start, end) == brute / 1000
    assert 0 <= _largest_gap(sorted(stamps), start, end) <= length / 1000


def test_a_size_whose_faults_could_not_bite_is_refused_naming_the_fix() -> None:
    base = SIZES["tiny"].model_dump()
    with pytest.raises(ValidationError, match="--outage-s"):
        ChaosSize(**{**base, "outage_s": STEP_START_TO_CLOSE_S})
    with pytest.raises(ValidationError, match="--pause-s"):
        ChaosSize(**{**base, "pause_s": SESSION_TIMEOUT_S})
    assert all(
        s.sigkills and s.state_wipes and s.broker_restarts and s.service_outages and s.pauses for s in SIZES.values()
    )


def _run_dir(tmp_path: Path, log: LogBuilder) -> Path:
    workdir = tmp_path / "run"
    workdir.mkdir()
    log.run().save(workdir)
    committed_log.write(workdir / committed_log.FILE_NAME, log.entries)
    return workdir


def test_audit_of_a_healthy_run_directory_prints_passed_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = LogBuilder()
    log.completed_saga("w-1", failures=(1, 2, 0))
    log.declined_saga("w-2")
    log.cancelled_saga("w-3", completed_steps=2)
    code = main(["audit", str(_run_dir(tmp_path, log)), "--results-dir", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASSED" in out and "Integrity" in out
    (json_path,) = (tmp_path / "results").glob("*.json")
    report = json.loads(json_path.read_text())
    assert report["passed"] and report["audit"]["outcomes"] == {"completed": 1, "compensated": 1, "cancelled": 1}
    assert "**PASSED**" in json_path.with_suffix(".md").read_text()


def test_audit_of_a_run_with_a_lost_workflow_prints_failed_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = LogBuilder()
    log.completed_saga("w-1")
    log.start("w-2")
    log.started("w-2")
    code = main(["audit", str(_run_dir(tmp_path, log)), "--results-dir", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == EXIT_FAILED
    assert "FAILED" in out and "1 workflows started and never finished" in out
    (json_path,) = (tmp_path / "results").glob("*.json")
    assert json.loads(json_path.read_text())["audit"]["lost_workflows"] == ["w-2 (last event: WorkflowStarted)"]


def test_audit_of_a_run_that_never_dumped_its_topics_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workdir = _run_dir(tmp_path, LogBuilder())
    (workdir / committed_log.FILE_NAME).unlink()
    assert main(["audit", str(workdir), "--results-dir", str(tmp_path / "results")]) == EXIT_FAILED
    assert "no committed log" in capsys.readouterr().out
