"""`make chaos` at its tiny size, end to end, then its committed log doctored to prove the audit bites.

The run starts its own broker (it SIGKILLs it), so this needs no session broker; it is marked
`broker` all the same so `make unit` skips it. The figures are checked for being there and
consistent, never against a time budget.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaos import committed_log
from chaos.committed_log import LoggedRecord, TopicRole
from chaos.run_record import FaultKind
from orchestrator.transport import header_names

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.broker, pytest.mark.slow, pytest.mark.timeout(2400)]


def chaos(*args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "chaos", *args], cwd=REPO, capture_output=True, text=True, timeout=2300
    )
    return done.returncode, done.stdout + done.stderr


def results(directory: Path) -> dict[str, Any]:
    (path,) = directory.glob("*.json")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp("chaos")
    code, output = chaos(
        "run", "--size", "tiny", "--seed", "14", "--workdir", str(base / "run"), "--results-dir", str(base / "results")
    )
    assert code == 0, output[-6000:]
    return base / "run", results(base / "results")


def test_the_tiny_run_injects_every_fault_and_finds_nothing_wrong(tiny_run: tuple[Path, dict[str, Any]]) -> None:
    workdir, report = tiny_run
    audit = report["audit"]
    assert report["passed"] and not audit["violations"]
    assert audit["started"] == report["workload"]["starts_sent"] > 0
    assert sum(audit["outcomes"].values()) == audit["started"]
    assert audit["outcomes"].get("compensated", 0) > 0  # declines ran their compensations
    assert {f["kind"] for f in report["faults"]} == {k.value for k in FaultKind}
    assert all(f["pause_s"] is not None for f in report["faults"] if f["kind"] != FaultKind.SERVICE_OUTAGE)
    outage = next(f for f in report["faults"] if f["kind"] == FaultKind.SERVICE_OUTAGE)
    assert outage["attempt_timeouts"] > 0  # the outage outlasted start_to_close: timeouts and retries ran
    assert set(report["bad_input"]) >= {"garbage", "replayed-reply", "late-reply", "wrong-key"}
    fates = audit["inputs"]
    assert fates["garbage"]["dlq"] == fates["garbage"]["total"] > 0
    assert fates["replayed-reply"]["events"] == fates["replayed-reply"]["total"] > 0
    assert (workdir / committed_log.FILE_NAME).exists()


def test_the_audit_of_a_doctored_log_fails_naming_the_duplicate_and_the_loss(
    tiny_run: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    workdir, _report = tiny_run
    log_file = workdir / committed_log.FILE_NAME
    original = log_file.read_bytes()
    entries = committed_log.read(log_file)
    command = next(e for e in entries if e.role == TopicRole.COMMANDS)
    terminal = _a_terminal_event(entries)
    doctored = [e for e in entries if e is not terminal] + [command]
    try:
        committed_log.write(log_file, doctored)
        code, output = chaos("audit", str(workdir), "--results-dir", str(tmp_path))
    finally:
        log_file.write_bytes(original)
    assert code == 1, output[-4000:]
    audit = results(tmp_path)["audit"]
    cid, attempt = command.record.header(header_names.COMMAND_ID), command.record.header(header_names.ATTEMPT)
    assert audit["duplicate_commands"] == [f"{cid} attempt {attempt} x2"]
    assert [w.split(" ")[0] for w in audit["lost_workflows"]] == [terminal.record.key.decode()]  # type: ignore[union-attr]
    assert "FAILED" in output


def _a_terminal_event(entries: list[LoggedRecord]) -> LoggedRecord:
    from chaos.scenario import new_serde

    serde = new_serde()
    for entry in entries:
        is_event = entry.role == TopicRole.EVENTS and entry.record.value is not None
        if is_event and serde.decode(entry.record.value or b"").schema_name == "sagabridge.events.WorkflowCompleted":
            return entry
    raise AssertionError("no WorkflowCompleted in the run")
