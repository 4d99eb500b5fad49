"""``/pipelines``: list, create, get, change (``PATCH``) and delete pipelines through the store.

Every write goes through ``PipelineStore``, which validates at the door (configs against the
connector's spec and its own rules, stream names against the source's catalog) and stores nothing
on any error; creation also checks both connectors unless ``skip_check`` (the CLI's
``--skip-check``). ``desired_status`` changes by ``PATCH``; ``deleted`` is terminal (a later change
is a 409). ``If-Match: "<version>"`` (the version a client read, also sent back as ``ETag``) makes a
change conditional: a pipeline changed since answers 412 and is left as it was.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from sync_platform.engine.errors import UnknownConnectorError, UnknownStreamError
from sync_platform.errors import ConfigError
from sync_platform.pipelines import ConcurrentUpdateError, PipelineCreate, PipelineUpdate
from sync_platform.pipelines.activity import last_checkpoint_times
from sync_platform.pipelines.connector_check import create_checked
from sync_platform.pipelines.leftovers import leftovers
from sync_platform.service import pipeline_views
from sync_platform.service.auth import Principal, authenticate, require_admin, services_of
from sync_platform.service.errors import PreconditionFailedError, RequestValidationFailed
from sync_platform.service.json_response import JsonResponse
from sync_platform.service.schemas import ERRORS, PipelineCreated, PipelineList, PipelineView, PurgedView

router = APIRouter(tags=["pipelines"], responses=ERRORS)

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d+)"?\s*$')
PipelineId = Annotated[str, "the pipeline id"]
IfMatch = Annotated[
    str | None,
    Header(description='`"<version>"` (the ETag of a GET): change only if the pipeline is still at it.'),
]


def expected_version(if_match: str | None) -> int | None:
    """The version ``If-Match`` names (``"4"``, ``W/"4"`` or ``4``); None for no header or ``*``."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = _IF_MATCH.match(if_match)
    if found is None:
        raise RequestValidationFailed(
            f'Invalid If-Match header {if_match!r}: send the pipeline\'s version as "<version>".',
            field="If-Match",
        )
    return int(found.group(1))


RefusedInput = (ConfigError, UnknownStreamError, UnknownConnectorError)


def qualify_field(error: Exception, request: PipelineCreate | PipelineUpdate) -> Exception:
    """Name the refused field as the request spells it (``source.stripe.api_key``, ``streams``,
    ``destination.type``); an unknown connector in a request is bad input (400), not a missing page."""
    if isinstance(error, UnknownConnectorError):
        error.api_field = f"{error.kind}.type"  # type: ignore[attr-defined]  # read by errors.error_body
        error.http_status = 400  # type: ignore[attr-defined]  # the request names it: bad input
        return error
    if isinstance(error, UnknownStreamError) or getattr(error, "field", None) == "streams":
        error.api_field = "streams"  # type: ignore[attr-defined]  # read by errors.error_body
        return error
    connector_type, field = getattr(error, "connector", None), getattr(error, "field", None)
    sides = [
        side
        for side, connector in (("source", request.source), ("destination", request.destination))
        if connector is not None and connector.type == connector_type
    ]
    if len(sides) == 1:
        path = f"{sides[0]}.{connector_type}"
        error.api_field = f"{path}.{field}" if field else path  # type: ignore[attr-defined]
    return error


def _conditional(error: ConcurrentUpdateError, expected: int | None) -> Exception:
    """A stale ``If-Match`` is a failed precondition (412); other lost races stay conflicts (409)."""
    if expected is None:
        return error
    failed = PreconditionFailedError(str(error))
    failed.__cause__ = error
    return failed


@router.get("/pipelines", response_model=PipelineList, operation_id="pipelines.list")
def list_pipelines(
    request: Request,
    _: Annotated[Principal, Depends(authenticate)],
    include_deleted: Annotated[bool, Query(description="Deleted pipelines too (the CLI's --all).")] = False,
    include_state: Annotated[bool, Query(description="Each pipeline's two checkpoints too.")] = False,
) -> Response:
    """Every pipeline, oldest first, masked, with its progress (records, streams done, last sync)."""
    store = services_of(request).store
    if not include_state:  # figures read inside PostgreSQL, only for pipelines that changed
        items = services_of(request).pipeline_list.items(store, include_deleted=include_deleted)
        return JsonResponse({"data": items, "has_more": False})
    pipelines = store.list_pipelines(include_deleted=include_deleted)
    saved = last_checkpoint_times(store)
    data = [pipeline_views.list_item(p, saved.get(p.id), include_state=True) for p in pipelines]
    return JsonResponse({"data": data, "has_more": False})


@router.post(
    "/pipelines", status_code=201, response_model=PipelineCreated, operation_id="pipelines.create",
    responses={422: {"model": ERRORS[400]["model"], "description": "A connector check failed"}},
)  # fmt: skip
def create_pipeline(
    request: Request,
    body: PipelineCreate,
    _: Annotated[Principal, Depends(require_admin)],
    skip_check: Annotated[
        bool, Query(description="Store it without the connection check (the config is still validated).")
    ] = False,
) -> Response:
    """Create a pipeline: configs and streams validated, both connectors checked unless `skip_check`.

    Secrets may be sent as plaintext (stored encrypted) or as `{"env": "NAME"}` (read from the
    service's environment where the pipeline runs). Nothing is stored when anything is refused.
    """
    services = services_of(request)
    if (defaults := services.settings.local_defaults) is not None:
        body = defaults.applied_to(body)
    try:
        pipeline, results = create_checked(services.store, services.engine, body, skip_check=skip_check)
    except RefusedInput as error:
        raise qualify_field(error, body) from None
    data = pipeline.masked()
    data["checks"] = [result.to_json() for result in results]
    headers = {"Location": f"/pipelines/{pipeline.id}", "ETag": pipeline_views.etag(pipeline)}
    return JsonResponse(data, status_code=201, headers=headers)


@router.get("/pipelines/{pipeline_id}", response_model=PipelineView, operation_id="pipelines.get")
def get_pipeline(
    request: Request, pipeline_id: PipelineId, _: Annotated[Principal, Depends(authenticate)]
) -> Response:
    """One pipeline (deleted ones too, until purged), masked, with its webhook inbox backlog."""
    store = services_of(request).store
    pipeline = store.get(pipeline_id)
    data = pipeline_views.detail(pipeline, pending_events=store.count_pending_inbox(pipeline_id))
    return JsonResponse(data, headers={"ETag": pipeline_views.etag(pipeline)})


@router.patch("/pipelines/{pipeline_id}", response_model=PipelineView, operation_id="pipelines.update")
def update_pipeline(
    request: Request,
    pipeline_id: PipelineId,
    body: PipelineUpdate,
    _: Annotated[Principal, Depends(require_admin)],
    if_match: IfMatch = None,
) -> Response:
    """Change configs, streams or `desired_status` (`active`, `paused`, `deleted`); what is not sent
    is kept. A secret sent back as `***` keeps the stored one. `deleted` is terminal: 409 after it."""
    expected = expected_version(if_match)
    try:
        pipeline = services_of(request).store.update(pipeline_id, body, expected_version=expected)
    except ConcurrentUpdateError as error:
        raise _conditional(error, expected) from None
    except RefusedInput as error:
        raise qualify_field(error, body) from None
    return JsonResponse(pipeline.masked(), headers={"ETag": pipeline_views.etag(pipeline)})


@router.delete(
    "/pipelines/{pipeline_id}",
    response_model=PipelineView | PurgedView,
    operation_id="pipelines.delete",
)
def delete_pipeline(
    request: Request,
    pipeline_id: PipelineId,
    _: Annotated[Principal, Depends(require_admin)],
    force: Annotated[
        bool, Query(description="Forget it now, without teardown; the answer lists what may be left.")
    ] = False,
    if_match: IfMatch = None,
) -> Response:
    """Delete a pipeline: `desired_status = deleted`; the platform tears down what setup created.

    With `force`, the pipeline, its checkpoints and inbox are forgotten at once (for one whose
    teardown cannot run) and the answer lists what may be left behind.
    """
    store = services_of(request).store
    if not force:
        expected = expected_version(if_match)
        try:
            pipeline = store.delete(pipeline_id, expected_version=expected)
        except ConcurrentUpdateError as error:
            raise _conditional(error, expected) from None
        return JsonResponse(pipeline.masked(), headers={"ETag": pipeline_views.etag(pipeline)})
    pipeline = store.get(pipeline_id)
    left = leftovers(pipeline)
    store.purge(pipeline_id, force=True)
    return JsonResponse({"id": pipeline_id, "purged": True, "may_be_left_behind": left})
