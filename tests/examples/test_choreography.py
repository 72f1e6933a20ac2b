"""examples/choreography must not rot: both phases, real processes, in the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_choreography_runs_alone_then_adopted_by_the_bridge(kafka_bootstrap: str) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "examples.choreography.demo",
            "--orders",
            "10",
            "--decline-every",
            "5",
            "--timeout",
            "180",
            "--bootstrap-servers",
            kafka_bootstrap,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    phase1, phase2 = run.stdout.split("== phase 2")
    assert "| shipped | 8 |" in phase1 and "| cancelled (stock released) | 2 |" in phase1
    assert "| completed | 8 |" in phase2 and "| compensated | 2 |" in phase2
    assert "| unaccounted | 0 |" in phase2 and "| not as expected | 0 |" in phase2
    assert "| StepFailed payments | 2 |" in phase2  # the declines, mapped from PaymentDeclined events
