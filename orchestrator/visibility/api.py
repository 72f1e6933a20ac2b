"""The visibility HTTP API (FastAPI): lists, counts, one workflow's timeline, operator actions.

Everything is under `/api/v1`; the OpenAPI document is `/api/v1/openapi.json` (Swagger UI at
`/api/v1/docs`). Reads need a read (or operate) token, actions an operate token, as
`Authorization: Bearer <token>`. Workflow ids may contain `/` (child ids do), so the id is the
rest of the path: `GET /api/v1/workflows/{id}` reads one, `POST /api/v1/workflows/{id}/retry`
acts on it (no GET route has a suffix, so the two never collide).

The web UI is mounted next to the API by `orchestrator.visibility.ui.mount` (same process, same
tokens): its pages call these endpoints.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError

from orchestrator import __version__
from orchestrator.errors import DeliveryError, EncodeError
from orchestrator.visibility.actions import OperatorActions
from orchestrator.visibility.api_models import (
    ActionAccepted,
    CallerView,
    CancelRequest,
    CompensateRequest,
    IngestView,
    ProblemView,
    RetryRequest,
    SignalRequest,
    SkipRequest,
    StatusCountsView,
    WorkflowDetail,
    WorkflowPage,
    WorkflowTypesView,
    WorkflowTypeView,
)
from orchestrator.visibility.auth import Caller, Role, TokenAuth
from orchestrator.visibility.detail import DetailBuilder, summary
from orchestrator.visibility.errors import (
    ActionNotApplicableError,
    InvalidQueryError,
    StoreTimeoutError,
    VisibilityStoreError,
    WorkflowNotFoundError,
)
from orchestrator.visibility.queries import (
    MAX_PAGE,
    MAX_TIMELINE,
    WorkflowFilter,
    WorkflowQueries,
    parse_attribute_filters,
)
from orchestrator.workflow.status import WorkflowStatus

log = logging.getLogger(__name__)
PREFIX = "/api/v1"


@dataclass
class ApiContext:
    """What the routes need; built by server.py (tests build it around their own store)."""

    queries: WorkflowQueries
    actions: OperatorActions | None  # None: a read-only API (no inbox to write to)
    auth: TokenAuth
    details: DetailBuilder
    ingest_status: Callable[[], IngestView]


_bearer = HTTPBearer(auto_error=False, description="a read token for reads, an operate token for actions")
_RESPONSES: dict[int | str, dict[str, object]] = {
    401: {"model": ProblemView, "description": "no token, or not a configured one"},
    403: {"model": ProblemView, "description": "a read token on an action"},
}


class _AuthError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        self.detail = detail


def _caller(auth: TokenAuth, credentials: HTTPAuthorizationCredentials | None, role: Role) -> Caller:
    caller = auth.identify(None if credentials is None else credentials.credentials)
    if caller is None:
        raise _AuthError(401, "a valid bearer token is required (Authorization: Bearer <token>)")
    if not caller.may(role):
        raise _AuthError(403, f"token {caller.name!r} may read but not operate")
    return caller


def read_access(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """FastAPI dependency: the caller of a read route (401 without a valid token)."""
    return _caller(request.app.state.visibility.auth, credentials, Role.READ)


def operate_access(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """FastAPI dependency: the caller of an action (401 without a valid token, 403 with a read token)."""
    return _caller(request.app.state.visibility.auth, credentials, Role.OPERATE)


# Parameter types shared by the routes (module level: FastAPI resolves annotations by name here).
Reader = Annotated[Caller, Depends(read_access)]
Operator = Annotated[Caller, Depends(operate_access)]
Statuses = Annotated[list[WorkflowStatus], Query(description="any of these (repeat the parameter)")]
Types = Annotated[list[str], Query(alias="type", description="any of these workflow types")]
Prefix = Annotated[str | None, Query(description="workflow ids starting with this; orders by id")]
After = Annotated[str | None, Query(description="started at or after: epoch ms or ISO 8601")]
Before = Annotated[str | None, Query(description="started before: epoch ms or ISO 8601")]
Attrs = Annotated[list[str], Query(description="search attribute name=value (repeat: all must hold)")]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
Cursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
TimelineAfter = Annotated[int, Query(description="only entries after this position")]
TimelineLimit = Annotated[int, Query(ge=1, le=MAX_TIMELINE)]


def parse_time(value: str | None, name: str) -> int | None:
    """Epoch milliseconds, or an ISO 8601 time (naive = UTC)."""
    if value is None or value == "":
        return None
    if value.lstrip("-").isdigit():
        return int(value)
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidQueryError(f"{name}={value!r} is neither epoch milliseconds nor an ISO 8601 time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp() * 1000)


def workflow_filter(
    status: list[WorkflowStatus],
    workflow_type: list[str],
    id_prefix: str | None,
    started_after: str | None,
    started_before: str | None,
    attr: list[str],
) -> WorkflowFilter:
    """The list/count query parameters as a WorkflowFilter (times as epoch ms or ISO 8601)."""
    return WorkflowFilter(
        statuses=tuple(status),
        types=tuple(workflow_type),
        id_prefix=id_prefix or None,
        started_after_ms=parse_time(started_after, "started_after"),
        started_before_ms=parse_time(started_before, "started_before"),
        attributes=parse_attribute_filters(attr),
    )


def create_app(ctx: ApiContext, *, title: str = "SagaBridge visibility") -> FastAPI:
    """The FastAPI app of the visibility API around `ctx`; the server mounts the UI beside it."""
    app = FastAPI(
        title=title,
        version=__version__,
        description=__doc__,
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.visibility = ctx
    _errors(app)

    router = APIRouter(prefix=PREFIX, responses=_RESPONSES)

    @router.get("/workflows", response_model=WorkflowPage, summary="List workflows, newest first")
    def list_workflows(
        _caller: Reader,
        status: Statuses = [],  # noqa: B006  (FastAPI reads the default; it is never mutated)
        workflow_type: Types = [],  # noqa: B006
        id_prefix: Prefix = None,
        started_after: After = None,
        started_before: Before = None,
        attr: Attrs = [],  # noqa: B006
        limit: Limit = 50,
        cursor: Cursor = None,
    ) -> WorkflowPage:
        f = workflow_filter(status, workflow_type, id_prefix, started_after, started_before, attr)
        page = ctx.queries.page(f, limit, cursor)
        jaeger = ctx.details.jaeger_url
        return WorkflowPage(workflows=[summary(s, jaeger) for s in page.workflows], next_cursor=page.next_cursor)

    @router.get("/counts", response_model=StatusCountsView, summary="Workflows per status")
    def counts(
        _caller: Reader,
        status: Statuses = [],  # noqa: B006
        workflow_type: Types = [],  # noqa: B006
        id_prefix: Prefix = None,
        started_after: After = None,
        started_before: Before = None,
        attr: Attrs = [],  # noqa: B006
    ) -> StatusCountsView:
        f = workflow_filter(status, workflow_type, id_prefix, started_after, started_before, attr)
        c = ctx.queries.counts(f)
        return StatusCountsView(total=c.total, by_status=c.by_status, source=c.exact_source)

    @router.get("/workflow-types", response_model=WorkflowTypesView, summary="Every workflow type seen, with counts")
    def workflow_types(_caller: Reader) -> WorkflowTypesView:
        return WorkflowTypesView(
            types=[
                WorkflowTypeView(workflow_type=name, total=sum(by.values()), by_status=by)
                for name, by in ctx.queries.types().items()
            ]
        )

    @router.get("/me", response_model=CallerView, summary="Who the bearer token is (name, role)")
    def me(caller: Reader) -> CallerView:
        """The web UI signs in with this: it shows the name actions will be recorded under."""
        return CallerView(name=caller.name, role=caller.role.value, may_operate=caller.may(Role.OPERATE))

    @router.get("/status", response_model=IngestView, summary="How far the store has followed the events topic")
    def status_view(_caller: Reader) -> IngestView:
        return ctx.ingest_status()

    @router.get(
        "/workflows/{workflow_id:path}",
        response_model=WorkflowDetail,
        summary="One workflow: its row, steps with attempts, signals, operator actions and timeline",
        responses={404: {"model": ProblemView}},
    )
    def detail(
        workflow_id: str,
        _caller: Reader,
        timeline_after: TimelineAfter = -1,
        timeline_limit: TimelineLimit = MAX_TIMELINE,
    ) -> WorkflowDetail:
        found = ctx.queries.detail(workflow_id, timeline_after, timeline_limit)
        if found is None:
            raise WorkflowNotFoundError(workflow_id)
        state, entries, children = found
        more = bool(entries) and entries[-1].position < state.events - 1 and len(entries) == timeline_limit
        return ctx.details.build(state, entries, children, entries[-1].position if more else None)

    def _actions() -> OperatorActions:
        if ctx.actions is None:
            raise ActionNotApplicableError("this API is read-only (no inbox configured)")
        return ctx.actions

    acted: dict[int | str, dict[str, Any]] = {
        202: {"model": ActionAccepted},
        404: {"model": ProblemView},
        409: {"model": ProblemView, "description": "the workflow's state rules the action out"},
    }

    @router.post("/workflows/{workflow_id:path}/retry", status_code=202, response_model=ActionAccepted, responses=acted)
    def retry(workflow_id: str, body: RetryRequest, caller: Operator) -> ActionAccepted:
        """Resend the parked step(s) with a fresh attempt budget (or replay a needs-attention run)."""
        return _actions().retry(workflow_id, body, caller)

    @router.post("/workflows/{workflow_id:path}/skip", status_code=202, response_model=ActionAccepted, responses=acted)
    def skip(workflow_id: str, body: SkipRequest, caller: Operator) -> ActionAccepted:
        """Complete the parked step with the given result, as if the service had answered it."""
        return _actions().skip(workflow_id, body, caller)

    @router.post(
        "/workflows/{workflow_id:path}/compensate", status_code=202, response_model=ActionAccepted, responses=acted
    )
    def compensate(workflow_id: str, body: CompensateRequest, caller: Operator) -> ActionAccepted:
        """Fail the parked step finally, so the workflow's saga compensates."""
        return _actions().compensate(workflow_id, body, caller)

    @router.post(
        "/workflows/{workflow_id:path}/cancel", status_code=202, response_model=ActionAccepted, responses=acted
    )
    def cancel(workflow_id: str, body: CancelRequest, caller: Operator) -> ActionAccepted:
        """Cancel the workflow (parked or running); its saga compensates."""
        return _actions().cancel(workflow_id, body, caller)

    @router.post(
        "/workflows/{workflow_id:path}/signal", status_code=202, response_model=ActionAccepted, responses=acted
    )
    def signal(workflow_id: str, body: SignalRequest, caller: Operator) -> ActionAccepted:
        """Deliver a signal (the caller is recorded as its sender)."""
        return _actions().signal(workflow_id, body, caller)

    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(_AuthError)
    async def auth_error(_r: Request, exc: _AuthError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return _problem(exc.status, exc.detail, headers)

    @app.exception_handler(WorkflowNotFoundError)
    async def not_found(_r: Request, exc: WorkflowNotFoundError) -> JSONResponse:
        return _problem(404, str(exc))

    @app.exception_handler(ActionNotApplicableError)
    async def conflict(_r: Request, exc: ActionNotApplicableError) -> JSONResponse:
        return _problem(409, str(exc))

    @app.exception_handler(InvalidQueryError)
    async def bad_query(_r: Request, exc: InvalidQueryError) -> JSONResponse:
        return _problem(422, str(exc))

    @app.exception_handler(EncodeError)
    async def bad_record(_r: Request, exc: EncodeError) -> JSONResponse:
        return _problem(422, str(exc))

    @app.exception_handler(ValidationError)
    async def bad_model(_r: Request, exc: ValidationError) -> JSONResponse:
        return _problem(422, f"the record does not match its schema: {exc}")

    @app.exception_handler(StoreTimeoutError)
    async def store_slow(_r: Request, exc: StoreTimeoutError) -> JSONResponse:
        return _problem(503, str(exc), {"Retry-After": "1"})

    @app.exception_handler(VisibilityStoreError)
    async def store_down(_r: Request, exc: VisibilityStoreError) -> JSONResponse:
        log.error("visibility store: %s", exc)
        return _problem(503, str(exc), {"Retry-After": "5"})

    @app.exception_handler(DeliveryError)
    async def inbox_down(_r: Request, exc: DeliveryError) -> JSONResponse:
        log.error("inbox: %s", exc)
        return _problem(503, f"the action was not sent: {exc}", {"Retry-After": "5"})
