"""The replayer on histories recorded by a real orchestrator run on the broker.

Order-flow v1 runs for real (orchestrator, worker-SDK services, Kafka); four workflows are left
waiting for approval, one finishes. Then `orchestrator replay` reads the changelog topic (and the
stopped orchestrator's state dir, and an export of it) against the new code: the unguarded
reordering diverges for every run and exits 1, the ctx.patched version exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from examples.orders.models.orders import OrderPlaced
from orchestrator.cli import main
from orchestrator.transport.admin import KafkaAdmin
from tests.integration.harness import ROOT, App, EventLog, OrchestratorThread, create_app
from tests.integration.services import Behaviour, start_services
from tests.testing import order_flow_v1

V2_REORDERED = "tests.testing.order_flow_v2_reordered"
V2_PATCHED = "tests.testing.order_flow_v2_patched"


@pytest.fixture(scope="module")
def recorded(kafka_admin: KafkaAdmin, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """An app whose orchestrator ran v1 and stopped: 4 runs waiting for approval, 1 completed."""
    app = create_app(kafka_admin, kafka_bootstrap, tmp_path_factory.mktemp("replay"), partitions=2)
    services = start_services(app, Behaviour())
    events = EventLog(app)
    orchestrator = OrchestratorThread(app.settings(), order_flow_v1.registry).start()
    try:
        client = app.client()
        for n in range(5):
            order = OrderPlaced(order_id=f"o-{n}", customer_id="c", sku="s", quantity=1, amount_cents=9, currency="EUR")
            client.start("order-flow", order, workflow_id=f"wf-{n}")
        _wait_until_reserved(events, [f"wf-{n}" for n in range(5)])
        client.signal("wf-4", "approve")
        assert events.wait_for(["wf-4"], timeout_s=90) == {"wf-4": "completed"}
    finally:
        orchestrator.stop()
        events.close()
        for service in services:
            service.stop()
    yield app


def _wait_until_reserved(events: EventLog, ids: list[str], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events.poll()
        if all(events.of(wf, "StepCompleted") for wf in ids):
            return
    raise AssertionError(f"not all of {ids} reserved their stock within {timeout_s}s")


def _replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["replay", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_replay_of_the_changelog_catches_the_unguarded_change(
    recorded: App, capsys: pytest.CaptureFixture[str]
) -> None:
    source = ["--name", recorded.name, "--bootstrap-servers", recorded.bootstrap]
    code, report = _replay(capsys, "--app", V2_REORDERED, *source)
    assert code == 1 and report["ok"] is False
    assert report["types"] == [{"workflow_type": "order-flow", "histories": 5, "clean": 0, "diverged": 5, "failed": 0}]
    divergences = {d["workflow_id"]: d for d in report["divergences"]}
    assert set(divergences) == {f"wf-{n}" for n in range(5)}
    waiting = divergences["wf-0"]
    assert waiting["status"] == "running" and waiting["cmd_seq"] == 1
    assert waiting["expected"] == "timer_started" and "payments" in waiting["got"]

    code, report = _replay(capsys, "--app", V2_PATCHED, *source)
    assert code == 0 and report["ok"] is True and report["histories"] == 5


def test_replay_from_the_state_dir_and_an_export_agree(
    recorded: App, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    state = ["--state-dir", str(recorded.state_dir / "0")]
    code, from_state = _replay(capsys, "--app", V2_REORDERED, *state)
    assert code == 1 and from_state["histories"] == 5
    export = tmp_path / "histories.jsonl"
    source = ["--name", recorded.name, "--bootstrap-servers", recorded.bootstrap]
    assert main(["replay", "export", *source, "--output", str(export)]) == 0
    assert len(export.read_text().splitlines()) == 1 + 5
    code, from_file = _replay(capsys, "--app", V2_REORDERED, "--file", str(export))
    assert code == 1
    assert from_file["divergences"] == from_state["divergences"]
    assert _replay(capsys, "--app", V2_PATCHED, "--file", str(export))[0] == 0


def test_the_cli_gate_exits_non_zero_as_a_process(recorded: App, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "orchestrator.cli", "replay", "--name", recorded.name]
    command += ["--bootstrap-servers", recorded.bootstrap]
    bad = subprocess.run([*command, "--app", V2_REORDERED], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1, bad.stderr
    assert "wf-0" in bad.stdout and "the new code diverges" in bad.stdout
    good = subprocess.run([*command, "--app", V2_PATCHED], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "all histories replay" in good.stdout
