"""The service as one ASGI app: the pipelines API, the pipeline console and the webhook receiver.

FastAPI, because it derives the OpenAPI 3.1 document from the pydantic models the store already
takes (``PipelineCreate``, ``PipelineUpdate``) and turns request validation into errors that name
the field; it is Starlette underneath, so the webhook receiver (a Starlette app) runs inside it
unchanged. Handlers are thin: the store validates and masks, the runner runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, FastAPI, Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from sync_platform.service import routes_catalog, routes_pipelines, routes_runs, routes_webhooks
from sync_platform.service.auth import Principal, authenticate
from sync_platform.service.errors import install_error_handlers
from sync_platform.service.json_response import JsonResponse
from sync_platform.service.openapi import DESCRIPTION, TITLE, build_openapi
from sync_platform.service.services import Services
from sync_platform.webhooks import ReceiverSettings
from sync_platform.webhooks import create_app as create_webhook_app

CONSOLE_STATIC = Path(__file__).parent / "console" / "static"


def create_service_app(
    services: Services | None,
    *,
    console: bool = True,
    receiver_settings: ReceiverSettings | None = None,
) -> FastAPI:
    """The app over ``services`` (the caller owns and closes its store). ``None`` builds the app for
    its OpenAPI document only."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if services is not None:  # runs in flight stop at their next event, their checkpoints kept
            await anyio.to_thread.run_sync(services.stop_runs)

    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=routes_catalog.package_version(),
        openapi_url=None,  # served below, behind a token like every other endpoint
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    if services is not None:
        receiver = create_webhook_app(services.store, settings=receiver_settings)
        app.state.webhook_receiver = receiver
        app.state.receiver_counts = receiver.state.receiver_counts
    install_error_handlers(app)
    app.include_router(routes_pipelines.router)
    app.include_router(routes_runs.router)
    app.include_router(routes_catalog.router)
    app.include_router(routes_webhooks.router)

    cached: dict[str, object] = {}

    def openapi() -> dict[str, object]:
        if "document" not in cached:
            cached["document"] = build_openapi(app)
        return cached["document"]  # type: ignore[return-value]  # the dict stored just above

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise it

    @app.get("/openapi.json", include_in_schema=False)
    def openapi_json(request: Request, _: Annotated[Principal, Depends(authenticate)]) -> Response:
        return JsonResponse(app.openapi())

    if console:
        from sync_platform.service.console import routes as console_routes

        app.include_router(console_routes.router)
        app.mount("/static", StaticFiles(directory=CONSOLE_STATIC), name="static")
    return app
