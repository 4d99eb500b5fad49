"""Running pipelines over HTTP: ``sync``, ``sync_batch``, ``check``, ``setup``, ``teardown``, ``runs``.

``sync`` and ``sync_batch`` run the pipeline's lanes through ``PipelineRunner``, the code Dagster and
the CLI run: the same refusals (a paused, parked, deleted or busy pipeline is a 409 before any
work), the same setup, status moves and checkpoints saved as pages commit. ``sync`` streams the
run as NDJSON (``run_wire``) until the lanes are done or the limits are reached; a client that
disconnects cancels the run, keeping every checkpoint committed so far. ``sync_batch`` runs one
batch per lane and answers its ``EofPayload`` as one JSON document.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, replace
from typing import Annotated, Literal

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from sync_platform.engine import DEFAULT_STATE_LIMIT
from sync_platform.pipelines.connector_check import check_pipeline
from sync_platform.pipelines.errors import TransitionError
from sync_platform.pipelines.run_log import RunOrigin, recorded
from sync_platform.pipelines.runner import (
    BatchCommitted,
    ControlApplied,
    Lane,
    LaneStarted,
    PipelineRunner,
    RunEvent,
    RunFailed,
    RunOptions,
    SetupRan,
    StatusChanged,
)
from sync_platform.pipelines.states import DesiredStatus
from sync_platform.pipelines.store import PipelineStore
from sync_platform.protocol import EofPayload, ProgressPayload, RunStatus, utc_now
from sync_platform.service import run_wire
from sync_platform.service.auth import CONSOLE_HEADER, Principal, authenticate, require_admin, services_of
from sync_platform.service.errors import RunFailedError, error_body
from sync_platform.service.history import recent_runs
from sync_platform.service.json_response import JsonResponse
from sync_platform.service.run_session import RunSession
from sync_platform.service.schemas import ERRORS, CheckList, PipelineView, RunList
from sync_platform.service.services import Services

router = APIRouter(tags=["runs"], responses=ERRORS)

NDJSON = "application/x-ndjson"
PipelineId = Annotated[str, Path(description="The pipeline id.")]
Side = Literal["source", "destination"]


@dataclass(frozen=True)
class RunRequest:
    lanes: list[Lane] | None
    options: RunOptions


def run_request(
    lane: Annotated[
        Literal["backfill", "live", "poll", "reconcile"] | None,
        Query(description="Run this lane only (default: the backfill until done, then catching up)."),
    ] = None,
    state_limit: Annotated[
        int, Query(ge=0, description="Checkpoints per batch; 0: a batch reads everything.")
    ] = DEFAULT_STATE_LIMIT,
    time_limit: Annotated[
        float | None, Query(gt=0, description="Seconds for the run (soft: the batch that crosses it ends).")
    ] = None,
    streams: Annotated[
        str | None, Query(description="Comma-separated subset of the pipeline's streams (backfill).")
    ] = None,
    reset_state: Annotated[
        bool, Query(description="Backfill the selected streams again from the start.")
    ] = False,
    force: Annotated[
        bool, Query(description="Run a paused or parked pipeline; its status is left alone.")
    ] = False,
    run_id: Annotated[
        str | None, Query(description="Continue this engine run (streams it finished are not read again).")
    ] = None,
) -> RunRequest:
    names = [name.strip() for name in streams.split(",") if name.strip()] if streams is not None else None
    options = RunOptions(
        state_limit=state_limit or None,
        time_limit=time_limit,
        streams=names,
        reset_state=reset_state,
        force=force,
        run_id=run_id,
    )
    return RunRequest([Lane(lane)] if lane else None, options)


def _origin(request: Request) -> RunOrigin:
    return RunOrigin.CONSOLE if request.headers.get(CONSOLE_HEADER) == "1" else RunOrigin.API


_WITH_PIPELINE = (LaneStarted, StatusChanged, SetupRan, ControlApplied, RunFailed)


def whole_pipelines(events: Iterator[RunEvent], store: PipelineStore) -> Iterator[RunEvent]:
    """``events`` with each pipeline they carry read whole, checkpoints included, as the NDJSON
    sends it (``pipeline.masked()``, as the API shows a pipeline). The runner's events carry the
    pipeline row only; this reads the rest on the run's thread as each event comes, while the run
    waits at it, so a line shows the checkpoint as it was at that point of the run."""
    with closing(events):  # closing this closes the run (its lock, its last checkpoint)
        for event in events:
            if isinstance(event, _WITH_PIPELINE):
                event = replace(event, pipeline=store.get(event.pipeline.id))
            yield event


def start_run(services: Services, pipeline_id: str, run: RunRequest, origin: RunOrigin) -> RunSession:
    """The run on its own thread, recorded in the pipeline's run history."""
    holder = services.holder(f"{origin.value} request")
    runner = PipelineRunner(services.store, services.engine, holder=holder)
    options = replace(run.options, retention=services.settings.retention)

    def events() -> Iterator[RunEvent]:
        stream = whole_pipelines(runner.run(pipeline_id, run.lanes, options), services.store)
        return recorded(stream, services.run_log, pipeline_id, origin=origin, holder=holder)

    session = RunSession(events, name=pipeline_id)
    session.start()
    services.active_runs.add(session)
    return session


class NdjsonResponse(StreamingResponse):
    """A stream that always closes its iterator, however the client left (so the run is cancelled)."""

    media_type = NDJSON

    async def stream_response(self, send: object) -> None:
        iterator = self.body_iterator
        try:
            await super().stream_response(send)  # type: ignore[arg-type]  # Starlette's Send
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()


async def _stream(services: Services, session: RunSession, first: RunEvent | None) -> AsyncIterator[str]:
    status = "succeeded"
    try:
        if first is not None:
            status = "failed" if isinstance(first, RunFailed) else status
            yield run_wire.encode(first)
        async for event in session:
            if isinstance(event, RunFailed):
                status = "failed"
            yield run_wire.encode(event)
        yield run_wire.ended(status)
    except Exception as error:  # the response is already 200: the stream says how it ended
        yield run_wire.ended("crashed", error_body(error)["error"])
    finally:
        session.cancel()
        services.active_runs.discard(session)


@router.post(
    "/pipelines/{pipeline_id}/sync",
    operation_id="pipelines.sync",
    responses={
        200: {
            "content": {NDJSON: {"schema": {"type": "string"}}},
            "description": "The run as NDJSON: protocol messages and `run` events (see docs/api.md).",
        }
    },
)
async def sync(
    request: Request,
    pipeline_id: PipelineId,
    run: Annotated[RunRequest, Depends(run_request)],
    _: Annotated[Principal, Depends(require_admin)],
    max_batches: Annotated[
        int | None, Query(ge=1, description="Batches per lane (the CLI's --loop); default: until done.")
    ] = None,
) -> Response:
    """Run the pipeline's lanes, streaming progress, committed batches and status moves as NDJSON.

    Refusals (paused, parked, deleted, busy) answer 409 before anything runs. Closing the
    connection cancels the run; every checkpoint committed before that is kept.
    """
    services = services_of(request)
    run = RunRequest(run.lanes, replace(run.options, max_batches=max_batches))
    session = start_run(services, pipeline_id, run, _origin(request))
    try:
        first = await session.first()
    except BaseException:
        services.active_runs.discard(session)
        raise
    return NdjsonResponse(_stream(services, session, first))


async def _cancel_on_disconnect(request: Request, cancel: Callable[[], None]) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            cancel()
            return


def _nothing_to_do() -> EofPayload:
    """The answer when no batch ran (a live lane with an empty inbox): nothing read, nothing left."""
    progress = ProgressPayload(started_at=utc_now())
    return EofPayload(
        status=RunStatus.SUCCEEDED, has_more=False, run_progress=progress, request_progress=progress
    )


@router.post(
    "/pipelines/{pipeline_id}/sync_batch",
    operation_id="pipelines.sync_batch",
    response_model=EofPayload,
    responses={502: {"model": ERRORS[400]["model"], "description": "The lane failed before its batch"}},
)
async def sync_batch(
    request: Request,
    pipeline_id: PipelineId,
    run: Annotated[RunRequest, Depends(run_request)],
    _: Annotated[Principal, Depends(require_admin)],
) -> Response:
    """One batch of the pipeline's lane (of each lane, when it catches up on several), its
    checkpoint saved; answers the last batch's `EofPayload` (call again while `has_more`)."""
    services = services_of(request)
    options = replace(run.options, max_batches=1, retention=services.settings.retention)
    origin = _origin(request)
    holder = services.holder(f"{origin.value} request")
    runner = PipelineRunner(services.store, services.engine, holder=holder)
    cancelled = threading.Event()

    def one_batch() -> tuple[EofPayload | None, RunFailed | None]:
        """On a worker thread: only the batch's end matters here, so no event crosses threads."""
        last: EofPayload | None = None
        failed: RunFailed | None = None
        events = recorded(
            runner.run(pipeline_id, run.lanes, options), services.run_log, pipeline_id,
            origin=origin, holder=holder,
        )  # fmt: skip
        with closing(events):
            for event in events:
                if isinstance(event, BatchCommitted):
                    last = event.eof
                elif isinstance(event, RunFailed):
                    failed = event
                if cancelled.is_set():
                    break
        return last, failed

    watcher = asyncio.create_task(_cancel_on_disconnect(request, cancelled.set))
    try:
        last, failed = await anyio.to_thread.run_sync(one_batch)
    finally:
        watcher.cancel()
    if last is None and failed is not None:
        raise RunFailedError(
            f"The {failed.lane.value} lane of pipeline {pipeline_id!r} failed: {failed.error.summary()}"
        )
    return JsonResponse((last or _nothing_to_do()).to_wire())


@router.post("/pipelines/{pipeline_id}/check", response_model=CheckList, operation_id="pipelines.check")
def check(
    request: Request,
    pipeline_id: PipelineId,
    _: Annotated[Principal, Depends(require_admin)],
    only: Annotated[Side | None, Query(description="Check one side only.")] = None,
) -> Response:
    """Check that the pipeline's connectors reach their systems, with its stored secrets."""
    services = services_of(request)
    results = check_pipeline(services.store, services.engine, pipeline_id, only=only)
    return JsonResponse(
        {"data": [r.to_json() for r in results], "succeeded": all(r.succeeded for r in results)}
    )


@router.post("/pipelines/{pipeline_id}/setup", response_model=PipelineView, operation_id="pipelines.setup")
def setup(
    request: Request,
    pipeline_id: PipelineId,
    _: Annotated[Principal, Depends(require_admin)],
    only: Annotated[Side | None, Query(description="Set up one side only.")] = None,
) -> Response:
    """Run connector setup again (idempotent: it provisions what is missing) and store what the
    connectors report back (a new webhook secret, a spreadsheet id), under the pipeline's run lock."""
    services = services_of(request)
    pipeline = services.store.get(pipeline_id)
    if pipeline.desired_status is DesiredStatus.DELETED:
        raise TransitionError(
            f"Pipeline {pipeline_id!r} is deleted, and deleted is terminal: it cannot be set up.",
            pipeline_id=pipeline_id,
            current=DesiredStatus.DELETED,
            requested="set up",
        )
    runner = PipelineRunner(services.store, services.engine, holder=services.holder("setup request"))
    return JsonResponse(runner.provision(pipeline_id, only=only).masked())


@router.post(
    "/pipelines/{pipeline_id}/teardown", response_model=PipelineView, operation_id="pipelines.teardown"
)
def teardown(
    request: Request, pipeline_id: PipelineId, _: Annotated[Principal, Depends(require_admin)]
) -> Response:
    """Tear a deleted pipeline down now (the platform would on its next lifecycle tick): its
    connectors remove what setup created, then it shows as `deleted`. Other pipelines: 409."""
    services = services_of(request)
    holder = services.holder("teardown request")
    runner = PipelineRunner(services.store, services.engine, holder=holder)
    events = recorded(
        runner.run(pipeline_id, [Lane.TEARDOWN]), services.run_log, pipeline_id,
        origin=_origin(request), holder=holder,
    )  # fmt: skip
    failed = [event for event in events if isinstance(event, RunFailed)]
    if failed:
        raise RunFailedError(f"Teardown of pipeline {pipeline_id!r} failed: {failed[0].error.summary()}")
    return JsonResponse(services.store.get(pipeline_id).masked())


@router.get("/pipelines/{pipeline_id}/runs", response_model=RunList, operation_id="pipelines.runs")
def runs(
    request: Request,
    pipeline_id: PipelineId,
    _: Annotated[Principal, Depends(authenticate)],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    """Recent runs, newest first: Dagster's (linked to the Dagster UI) and those started from the
    CLI, this API or the console (recorded by the platform; they are not Dagster runs)."""
    services = services_of(request)
    services.store.get(pipeline_id)
    found, dagster = recent_runs(services, pipeline_id, limit)
    return JsonResponse({"data": [run.to_json() for run in found], "dagster": dagster})
