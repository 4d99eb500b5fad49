"""The emulator's Starlette app: ``/v1/...`` (the emulated API) and ``/_emulator/...`` (admin)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.routing import Route

from sync_platform.emulator.admin import admin_routes
from sync_platform.emulator.api import ApiRoutes
from sync_platform.emulator.emulator import Emulator

API_METHODS = ["GET", "POST", "DELETE"]


def create_app(emulator: Emulator, *, on_started: Callable[[], None] | None = None) -> Starlette:
    """An app serving ``emulator``; webhook workers run for as long as the app does."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.dispatcher.start()
        if on_started is not None:
            on_started()
        try:
            yield
        finally:
            await emulator.dispatcher.stop()

    api = ApiRoutes(emulator)
    routes = [*admin_routes(emulator), Route("/v1/{path:path}", api.handle, methods=API_METHODS)]
    return Starlette(routes=routes, lifespan=lifespan)
