"""Where the web UI plugs into the visibility server (issue 12, Deliver 3: not built yet).

`mount(app, ctx)` is called by `server.build_app` after the API routes are registered; it is
the only hook the UI needs. Put static assets (JS, CSS, images) in `ui/static/` (served at
`/ui/static/`) and page templates in `ui/templates/`; add page routes here. The pages call the
JSON API under `/api/v1` with the same bearer tokens (OpenAPI: `/api/v1/openapi.json`).

Until the UI exists, `/` points to the API's documentation.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from orchestrator.visibility.api import PREFIX, ApiContext

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"


def mount(app: FastAPI, ctx: ApiContext) -> None:
    """Add the UI's routes and static files to the API's app."""
    if any(p.name != ".gitkeep" for p in STATIC_DIR.iterdir()):
        app.mount("/ui/static", StaticFiles(directory=STATIC_DIR), name="ui-static")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/docs")
