"""Serves the web UI: one HTML shell for every page, the static modules, strict browser headers.

Every page (`/`, `/workflows/<id>`, `/reports/...`, `/signin`) gets the same shell; the ES
modules route in the browser and read the JSON API with the bearer token the person signed in
with. The shell holds no data and no secret, so it needs no token itself.

Static files live under a path that carries a digest of their content
(`/ui/static/<digest>/app.js`): a new release is a new URL, so browsers may cache them forever
and never run yesterday's modules against today's API. The pages send a Content-Security-Policy
that allows scripts and styles from this origin only: no inline script can run, which is what
keeps a workflow id or a payload that looks like HTML from ever executing (the modules also only
ever insert text, never markup).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.types import Scope

from orchestrator import __version__
from orchestrator.visibility.api import PREFIX, ApiContext, read_access
from orchestrator.visibility.ui.reports import UiReports

STATIC_DIR = Path(__file__).parent / "static"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_ROOT = "/ui/static"

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "frame-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}


@cache
def static_digest(root: Path = STATIC_DIR) -> str:
    """A short hash of every static file's path and bytes: the cache key of a release."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


class _ImmutableStatic(StaticFiles):
    """Static files under a content-addressed path: cacheable for a year, never stale."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def mount(app: FastAPI, ctx: ApiContext, *, app_name: str | None = None, reports: UiReports | None = None) -> None:
    """Add the UI's pages, files and report routes to the API's app (after the API routes)."""
    app.include_router((reports or UiReports()).router(read_access), prefix=PREFIX)
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    digest = static_digest()
    static_url = f"{STATIC_ROOT}/{digest}"
    app.mount(static_url, _ImmutableStatic(directory=STATIC_DIR), name="ui-static")
    name = app_name or app.title

    def shell(request: Request) -> HTMLResponse:
        response = templates.TemplateResponse(
            request,
            "index.html.j2",
            {"app_name": name, "api": PREFIX, "static": static_url, "version": __version__},
        )
        response.headers.update(_PAGE_HEADERS)
        return response

    for path in ("/", "/signin", "/workflows/{workflow_id:path}", "/reports", "/reports/{slug}"):
        app.add_api_route(path, shell, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)

    @app.middleware("http")
    async def page_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if not request.url.path.startswith(PREFIX):  # the API's own docs page loads its own assets
            for header, value in _PAGE_HEADERS.items():
                response.headers.setdefault(header, value)
        return response
