"""Operators act on parked workflows through the CLI; the action travels through the inbox."""

from __future__ import annotations

import os
import subprocess
import sys

from examples.orders.models.orders import OrderPlaced
from tests.integration.apps import registry
from tests.integration.harness import ROOT, App, EventLog, OrchestratorThread
from tests.integration.services import Behaviour


def cli(app: App, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "workflows",
            "--name",
            app.name,
            "--bootstrap-servers",
            app.bootstrap,
            *args,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )


def test_exhausted_retries_park_and_cli_retry_resumes(app: App, services: Behaviour, events: EventLog) -> None:
    services.fail_first_attempts = 2  # both allowed attempts fail
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        started = cli(
            app,
            "start",
            "finite-retries",
            "--id",
            "op-1",
            "--input-schema",
            OrderPlaced.avro_schema_name,
            "--input",
            '{"order_id": "o", "customer_id": "c", "sku": "s", "quantity": 1, "amount_cents": 1, "currency": "EUR"}',
        )
        assert started.returncode == 0 and started.stdout.strip() == "op-1", started.stderr
        assert events.wait_for(["op-1"], timeout_s=60) == {"op-1": "parked"}
        (parked,) = events.of("op-1", "WorkflowParked")
        assert parked["reason"]

        retried = cli(app, "retry", "op-1", "--reason", "inventory fixed")
        assert retried.returncode == 0, retried.stderr
        assert events.wait_for(["op-1"], timeout_s=60, statuses={"completed"}) == {"op-1": "completed"}

        listed = cli(app, "list", "--timeout", "5")
        assert "op-1\tWorkflowCompleted" in listed.stdout
        shown = cli(app, "show", "op-1", "--timeout", "3")
        assert "WorkflowParked" in shown.stdout and "WorkflowCompleted" in shown.stdout
    finally:
        orch.stop()
    assert [e for e in services.log if e.startswith("reserve")] == [
        "reserve:op-1:1",
        "reserve:op-1:2",
        "reserve:op-1:3",
    ]
