"""`make demo` must not rot: a small run of the same script, processes and all, in the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from orchestrator.devstack.processes import free_port

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
    # and it ends with the web UI: the command as printed serves this run's workflows
    ui = next(i for i, line in enumerate(lines) if line.startswith("Web UI for this run"))
    assert lines[-2:] == lines[ui + 1 : ui + 3], "the UI's command and URL are the demo's last lines"
    command = lines[ui + 1].split()
    url = lines[ui + 2].split()[-1]
    assert command[:2] == [".venv/bin/orchestrator", "ui"] and url == "http://127.0.0.1:8787/"
    port = free_port()  # the printed one may be taken on a shared machine; the command stays as printed
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *command[1:]],
        cwd=tmp_path,
        env={**os.environ, "SAGABRIDGE_VISIBILITY__PORT": str(port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        printed: dict[str, str] = {}
        deadline = time.monotonic() + 120
        while "local-operator" not in printed and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, f"orchestrator ui exited: {proc.wait(10)}"
            name, sep, token = line.strip().partition(": ")
            if sep and name in ("local-read", "local-operator"):
                printed[name] = token
        base = url.replace("8787", str(port)).rstrip("/")
        operator = {"Authorization": f"Bearer {printed['local-operator']}"}
        with httpx.Client(base_url=base, timeout=10) as http:
            shell = http.get("/")
            assert shell.status_code == 200 and 'type="module"' in shell.text
            assert http.get("/api/v1/me", headers=operator).json()["name"] == "local-operator"
            deadline = time.monotonic() + 120
            total = 0
            while total < 30 and time.monotonic() < deadline:
                total = http.get("/api/v1/counts", headers=operator).json()["total"]
                time.sleep(0.5)
            assert total == 30
    finally:
        proc.terminate()
        proc.wait(30)
