"""The web UI: pages served by the visibility server itself, next to the API (issue 12).

No Node build step: the page shell is one Jinja template (`templates/`), the views are plain ES
modules and CSS shipped as package data (`static/`), rendered in the browser from the JSON API
under `/api/v1`. `mount(app, ctx)` is called by `server.build` after the API routes.
docs/visibility.md ("Web UI") says how the browser gets its token and what each page shows.
"""

from orchestrator.visibility.ui.reports import ReportSource, UiReports
from orchestrator.visibility.ui.web_pages import STATIC_DIR, TEMPLATES_DIR, mount, static_digest

__all__ = ["STATIC_DIR", "TEMPLATES_DIR", "ReportSource", "UiReports", "mount", "static_digest"]
