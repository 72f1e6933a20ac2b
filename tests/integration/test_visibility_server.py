"""End to end on real parts: an orchestrator, real services, the visibility server on a socket.

A workflow parks, the list API finds it by status, an operator retries it over HTTP with an
operate token, and the store shows it completed with the operator recorded: the path the web
UI's browser test (issue 12, Deliver 3) will drive.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from examples.orders.models.orders import OrderPlaced
from orchestrator.visibility.server import VisibilityServer
from tests.integration.apps import registry
from tests.integration.harness import App, OrchestratorThread, serde, serving_visibility
from tests.integration.services import Behaviour

READ = "e2e-read-token-0123456789"
OPERATE = "e2e-operate-token-0123456789"


@pytest.fixture
def server(app: App, tmp_path: Path) -> Iterator[tuple[VisibilityServer, str]]:
    settings = app.settings(
        visibility={
            "store_url": f"sqlite:///{tmp_path / 'visibility.sqlite3'}",
            "port": 0,
            "read_tokens": {"viewer": READ},
            "operate_tokens": {"alice": OPERATE},
            "jaeger_url": "http://127.0.0.1:16686",
        }
    )
    with serving_visibility(settings, serde) as srv:
        yield srv, f"http://127.0.0.1:{srv.port}"


def wait_for(check: Callable[[], Any], timeout_s: float = 60) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_park_list_retry_over_http_complete(
    app: App, services: Behaviour, server: tuple[VisibilityServer, str]
) -> None:
    services.fail_first_attempts = 2  # both allowed attempts fail: the workflow parks
    _srv, base = server
    read = {"Authorization": f"Bearer {READ}"}
    operate = {"Authorization": f"Bearer {OPERATE}"}
    orch = OrchestratorThread(app.settings(), registry).start()
    try:
        client = app.client()
        order = OrderPlaced(order_id="o", customer_id="c", sku="s", quantity=1, amount_cents=1, currency="EUR")
        client.start("finite-retries", order, workflow_id="e2e-1")
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/api/v1/workflows").status_code == 401
            parked = wait_for(
                lambda: http.get("/api/v1/workflows", params={"status": "parked"}, headers=read).json()["workflows"]
            )
            assert [w["workflow_id"] for w in parked] == ["e2e-1"]
            assert parked[0]["current_step"]["service"] == "inventory" and parked[0]["trace_url"] is None
            assert http.post("/api/v1/workflows/e2e-1/retry", json={}, headers=read).status_code == 403
            response = http.post("/api/v1/workflows/e2e-1/retry", json={"reason": "fixed"}, headers=operate)
            assert response.status_code == 202, response.text

            def completed() -> dict[str, Any] | None:
                detail = http.get("/api/v1/workflows/e2e-1", headers=read).json()
                return detail if detail["workflow"]["status"] == "completed" else None

            detail = wait_for(completed)
            assert [(a["action"], a["operator"], a["reason"]) for a in detail["operator_actions"]] == [
                ("RETRY", "alice", "fixed")
            ]
            (step,) = detail["steps"]
            assert [a["outcome"] for a in step["attempts"]] == ["failed", "parked", "succeeded"]
            assert step["result"]["value"]["order_id"] == "o"
            status = http.get("/api/v1/status", headers=read).json()
            assert status["ingesting"] and status["running"] and status["events_ingested"] >= 6
            counts = http.get("/api/v1/counts", headers=read).json()
            assert counts["by_status"] == {"completed": 1}
    finally:
        orch.stop()
