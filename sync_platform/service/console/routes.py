"""The pipeline console's pages: server-rendered templates, a little plain JavaScript, no build step.

Pages read through the same store and run history as the API, in-process; every action on them
(create, edit, pause, resume, delete, sync now) is a call to the API itself from the page's script,
so the console can do nothing the API does not allow, with the same errors. Signing in trades an
API token for an HttpOnly cookie (see ``auth``); a read-only token sees the pages without actions.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.templating import Jinja2Templates
from starlette.responses import RedirectResponse, Response

from sync_platform.engine import offline_catalog
from sync_platform.pipelines import Pipeline, PipelineNotFoundError
from sync_platform.pipelines.activity import last_checkpoint_times
from sync_platform.pipelines.listing import list_summaries
from sync_platform.service.auth import CONSOLE_COOKIE, CONSOLE_HEADER, Principal, check_token, services_of
from sync_platform.service.console import forms, views
from sync_platform.service.errors import UnauthorizedError
from sync_platform.service.history import recent_runs
from sync_platform.service.pipeline_views import progress_summary
from sync_platform.service.stream_groups import stream_group

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.globals.update(tone=views.STATUS_TONE, ago=views.ago, console_header=CONSOLE_HEADER)

LOGIN = "/console/login"
PipelineId = Annotated[str, PathParam()]


class _SignIn(Exception):
    """The page needs a signed-in user: answered with a redirect to the sign-in page."""


def _principal(request: Request) -> Principal:
    try:
        token = check_token(services_of(request), request.cookies.get(CONSOLE_COOKIE))
    except UnauthorizedError:
        raise _SignIn from None
    return Principal(token, "cookie")


def _page(request: Request, template: str, principal: Principal, **context: Any) -> Response:
    settings = services_of(request).settings
    return templates.TemplateResponse(
        request,
        template,
        {"principal": principal, "can_write": principal.token.can_write, "settings": settings, **context},
    )


def _guard(request: Request, render: Callable[[Principal], Response]) -> Response:
    """Render a page for a signed-in user; send anyone else to the sign-in page, and show an
    unknown pipeline as a page rather than the API's JSON."""
    try:
        return render(_principal(request))
    except _SignIn:
        return RedirectResponse(f"{LOGIN}?next={request.url.path}", status_code=303)
    except PipelineNotFoundError as error:
        return templates.TemplateResponse(request, "missing.html", {"message": str(error)}, status_code=404)


# --- signing in --------------------------------------------------------------------------------


@router.get(LOGIN)
def login_page(request: Request, next: str = "/") -> Response:
    return templates.TemplateResponse(request, "login.html", {"next": _local(next), "error": None})


@router.post(LOGIN)
async def login(request: Request) -> Response:
    form = parse_qs((await request.body()).decode(), keep_blank_values=True)
    token = (form.get("token") or [""])[0].strip()
    target = _local((form.get("next") or ["/"])[0])
    try:
        check_token(services_of(request), token)
    except UnauthorizedError as error:
        context = {"next": target, "error": str(error)}
        return templates.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        CONSOLE_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@router.post("/console/logout")
def logout(request: Request) -> Response:
    response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(CONSOLE_COOKIE)
    return response


def _local(target: str) -> str:
    """Only paths of this site (no open redirect to another host after signing in)."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


# --- pages --------------------------------------------------------------------------------------


def _rows(request: Request) -> list[dict[str, Any]]:
    """The list's rows, their figures read inside PostgreSQL (no checkpoint is parsed here)."""
    summaries = list_summaries(services_of(request).store)
    return [{"pipeline": summary.pipeline, "progress": summary.progress()} for summary in summaries]


def _detail_context(request: Request, pipeline_id: str) -> dict[str, Any]:
    services = services_of(request)
    pipeline = services.store.get(pipeline_id)
    runs, dagster = recent_runs(services, pipeline_id, 10)
    masked = pipeline.masked()
    base = services.settings.public_url or str(request.base_url).rstrip("/")
    saved = last_checkpoint_times(services.store).get(pipeline_id)
    return {
        "pipeline": pipeline,
        "masked": masked,
        "progress": progress_summary(pipeline, saved),
        "streams": views.stream_rows(pipeline),
        "live_position": views.live_position(pipeline),
        "runs": views.run_rows(runs),
        "dagster": dagster,
        "source_config": views.config_json(masked["source"]),
        "destination_config": views.config_json(masked["destination"]),
        "pending_events": services.store.count_pending_inbox(pipeline_id),
        "webhook_endpoint": f"{base}/webhooks/{pipeline_id}",
        "has_webhook_secret": bool(pipeline.source.config.get("webhook_secret")),
        "dagster_runs_url": _dagster_runs_url(services.settings.dagster_url, pipeline_id),
    }


def _dagster_runs_url(dagster_url: str | None, pipeline_id: str) -> str | None:
    return f"{dagster_url}/runs?q%5B0%5D=tag%3Apipeline%2Fid%3D{pipeline_id}" if dagster_url else None


def _form_context(request: Request, pipeline: Pipeline | None) -> dict[str, Any]:
    """Every installed connector's fields (the page shows the chosen one's), and the stream list."""
    configs = services_of(request).store.configs
    registry = configs.registry
    sides: dict[str, list[dict[str, Any]]] = {}
    for side in ("source", "destination"):
        current = None if pipeline is None else pipeline.masked()[side]
        connectors = []
        for name in registry.names(side):  # type: ignore[arg-type]  # "source" | "destination"
            values = current.get(name) if current is not None and current["type"] == name else None
            connectors.append({"name": name, "fields": forms.form_fields(configs.schema(side, name), values)})  # type: ignore[arg-type]
        sides[side] = connectors
    catalogs = {}
    for name in registry.names("source"):
        catalog = offline_catalog(registry.source(name))
        if catalog is not None:
            groups: dict[str, list[str]] = {}
            for stream in catalog.streams:
                groups.setdefault(stream_group(stream.name, stream.metadata), []).append(stream.name)
            catalogs[name] = dict(sorted(groups.items()))
    chosen = None if pipeline is None or pipeline.streams is None else [s.name for s in pipeline.streams]
    return {
        "pipeline": pipeline,
        "sides": sides,
        "catalogs": catalogs,
        "chosen_streams": chosen,
        "source_type": pipeline.source.type if pipeline else ("stripe" if "stripe" in catalogs else None),
        "destination_type": pipeline.destination.type if pipeline else "postgres",
    }


@router.get("/")
def list_page(request: Request) -> Response:
    return _guard(request, lambda who: _page(request, "list.html", who, rows=_rows(request)))


@router.get("/console/fragments/pipelines")
def list_fragment(request: Request) -> Response:
    return _guard(request, lambda who: _page(request, "_pipeline_rows.html", who, rows=_rows(request)))


@router.get("/console/new")
def new_page(request: Request) -> Response:
    return _guard(request, lambda who: _page(request, "form.html", who, **_form_context(request, None)))


@router.get("/console/pipelines/{pipeline_id}")
def detail_page(request: Request, pipeline_id: PipelineId) -> Response:
    return _guard(
        request, lambda who: _page(request, "detail.html", who, **_detail_context(request, pipeline_id))
    )


@router.get("/console/fragments/pipelines/{pipeline_id}")
def detail_fragment(request: Request, pipeline_id: PipelineId) -> Response:
    return _guard(
        request, lambda who: _page(request, "_detail_live.html", who, **_detail_context(request, pipeline_id))
    )


@router.get("/console/pipelines/{pipeline_id}/edit")
def edit_page(request: Request, pipeline_id: PipelineId) -> Response:
    def render(who: Principal) -> Response:
        pipeline = services_of(request).store.get(pipeline_id)
        return _page(request, "form.html", who, **_form_context(request, pipeline))

    return _guard(request, render)
