"""The web UI's server side: one shell for every page, content-addressed static files, strict
browser headers, and the report routes behind the read token (no browser needed here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from orchestrator.serialization import SchemaRepository, SingleObjectSerde
from orchestrator.visibility.api import ApiContext, create_app
from orchestrator.visibility.auth import TokenAuth
from orchestrator.visibility.detail import DetailBuilder
from orchestrator.visibility.queries import WorkflowQueries
from orchestrator.visibility.store import VisibilityStore
from orchestrator.visibility.ui import STATIC_DIR, ReportSource, UiReports, mount, static_digest
from tests.visibility.feed import idle_ingest

READ = "pages-read-token-0123456789"


@pytest.fixture
def reports() -> UiReports:
    return UiReports()


@pytest.fixture
def client(tmp_path: Path, reports: UiReports) -> Iterator[TestClient]:
    store = VisibilityStore(f"sqlite:///{tmp_path / 'v.sqlite3'}")
    store.create()
    ctx = ApiContext(
        queries=WorkflowQueries(store),
        actions=None,
        auth=TokenAuth({"viewer": SecretStr(READ)}, {}),
        details=DetailBuilder(SingleObjectSerde(SchemaRepository())),
        ingest_status=lambda: idle_ingest("s", "sqlite"),
    )
    app = create_app(ctx)
    mount(app, ctx, app_name="orders", reports=reports)
    with TestClient(app) as c:
        yield c
    store.close()


def test_every_page_is_the_same_shell_with_strict_headers(client: TestClient) -> None:
    for path in ("/", "/signin", "/workflows/order-1", "/workflows/parent/child-1", "/reports", "/reports/flow"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "<title>orders · SagaBridge</title>" in response.text
        assert 'data-api="/api/v1"' in response.text
    # the shell holds no data and no secret: no token is needed for it, and none is in it
    assert READ not in client.get("/").text
    # the API keeps its own behaviour under the same paths' neighbours
    assert client.get("/api/v1/workflows").status_code == 401
    assert client.get("/api/v1/workflows/order-1", headers={"Authorization": f"Bearer {READ}"}).status_code == 404


def test_static_files_live_under_their_content_digest(client: TestClient) -> None:
    digest = static_digest()
    shell = client.get("/").text
    assert f'src="/ui/static/{digest}/app.js"' in shell and f'href="/ui/static/{digest}/app.css"' in shell
    script = client.get(f"/ui/static/{digest}/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert script.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get(f"/ui/static/{digest}/no-such.js").status_code == 404
    assert client.get("/ui/static/000000000000/app.js").status_code == 404  # another release's path
    # every module imported by another one ships (no build step would catch a missing file)
    for module in STATIC_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([\w-]+\.js)"', module.read_text()):
            assert (STATIC_DIR / name).exists(), f"{module.name} imports missing {name}"


def test_static_digest_changes_with_the_content(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    first = static_digest(tmp_path)
    (tmp_path / "a.js").write_text("export const a = 2;\n")
    static_digest.cache_clear()
    assert static_digest(tmp_path) != first
    static_digest.cache_clear()


def test_reports_need_a_read_token_and_render_on_request(client: TestClient, reports: UiReports) -> None:
    renders: list[int] = []

    def render() -> str:
        renders.append(1)
        return "<h1>flow</h1>"

    reports.add(ReportSource("flow", "Discovered flow", render, "what choreography ran"))
    assert client.get("/api/v1/reports").status_code == 401
    assert client.get("/api/v1/reports/flow").status_code == 401
    assert renders == []
    auth = {"Authorization": f"Bearer {READ}"}
    assert client.get("/api/v1/reports", headers=auth).json() == {
        "reports": [{"slug": "flow", "title": "Discovered flow", "description": "what choreography ran"}]
    }
    assert client.get("/api/v1/reports/flow", headers=auth).json() == {
        "slug": "flow",
        "title": "Discovered flow",
        "html": "<h1>flow</h1>",
    }
    assert client.get("/api/v1/reports/nope", headers=auth).status_code == 404
    with pytest.raises(ValueError, match="already registered"):
        reports.add(ReportSource("flow", "again", render))
    with pytest.raises(ValueError, match="slug"):
        ReportSource("Not A Slug", "x", render)
