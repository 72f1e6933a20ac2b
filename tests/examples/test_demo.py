"""`make demo` must not rot: a small run of the same script, processes and all, in the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _summary(stdout: str) -> dict[str, str]:
    """The rows of the demo's summary table (rich draws it with │ between the cells)."""
    rows = {}
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 2 and cells[0]:
            rows[cells[0]] = cells[1]
    return rows


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
    summary = _summary(run.stdout)
    assert summary["unaccounted"] == "0"
    assert summary["compensated"] == "6 (expected declines: 6)"
    assert summary["customer notifications (events)"] == "24"
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
