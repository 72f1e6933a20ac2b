"""The liveness file: rewritten by beats (throttled, atomic), read by `orchestrator health`."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from orchestrator.cli import main
from orchestrator.engine.liveness import LivenessFile, liveness_age_s, read_status


def test_beats_are_throttled_and_carry_the_status(tmp_path: Path) -> None:
    path = tmp_path / "alive"
    counter = {"n": 0}

    def status() -> dict[str, int]:
        counter["n"] += 1
        return {"commits": counter["n"]}

    live = LivenessFile(path, interval_s=3600, status=status)
    live.beat()
    live.beat()  # within the interval: no rewrite
    assert live.beats == 1 and read_status(path)["commits"] == 1 and read_status(path)["pid"] == os.getpid()
    live.beat(force=True)
    assert read_status(path)["commits"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["alive"]  # no temporary file left behind


def test_no_path_means_no_file(tmp_path: Path) -> None:
    LivenessFile(None).beat(force=True)
    assert list(tmp_path.iterdir()) == []


def test_health_probe_is_healthy_when_fresh_and_not_when_stale_or_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "alive"
    assert main(["health", "--liveness-file", str(path)]) == 1
    assert "does not exist" in capsys.readouterr().out
    LivenessFile(path, status=lambda: {"partitions": [0, 1], "commits": 7}).beat()
    assert main(["health", "--liveness-file", str(path), "--max-age", "30"]) == 0
    assert "partitions=[0, 1]" in capsys.readouterr().out
    old = time.time() - 120
    os.utime(path, (old, old))
    assert liveness_age_s(path) is not None and liveness_age_s(path) >= 119  # type: ignore[operator]
    assert main(["health", "--liveness-file", str(path), "--max-age", "30"]) == 1
    assert "silent for" in capsys.readouterr().out
