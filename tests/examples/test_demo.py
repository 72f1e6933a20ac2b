"""`make demo` must not rot: a small run of the same script, processes and all, in the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_demo_accounts_for_every_order(kafka_bootstrap: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "examples.orders.demo",
            "--orders",
            "30",
            "--rate",
            "20",
            "--decline-every",
            "5",
            "--outage-at",
            "1",
            "--outage-seconds",
            "4",
            "--timeout",
            "180",
            "--bootstrap-servers",
            kafka_bootstrap,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "| unaccounted | 0 |" in run.stdout
    assert "| compensated | 6 (expected declines: 6) |" in run.stdout
    assert "| customer notifications (events) | 24 |" in run.stdout
    # the commands the demo prints work as printed
    lines = run.stdout.splitlines()
    for hint in ("Inspect one workflow:", "List them"):
        command = lines[next(i for i, line in enumerate(lines) if line.startswith(hint)) + 1].split()
        assert command[0] == ".venv/bin/orchestrator"
        shown = subprocess.run(
            [sys.executable, "-m", "orchestrator.cli", *command[1:]],
            cwd=tmp_path,  # a fresh directory: its own visibility store
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert shown.returncode == 0, shown.stderr[-3000:]
        assert "order-00" in shown.stdout
