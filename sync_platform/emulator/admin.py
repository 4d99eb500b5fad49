"""``/_emulator/...``: the admin API that scripts and other processes drive the emulator by.

It mirrors the Python API of ``Emulator``: create, update and delete objects (each sends its
event and webhooks), set faults, pin the clock to one second, reset, and inspect deliveries.
Bodies are JSON. Admin requests need no API key and are never subject to injected faults.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync_platform.emulator.emulator import Emulator
from sync_platform.emulator.errors import ApiError, EmulatorError
from sync_platform.emulator.faults import FaultConfig
from sync_platform.emulator.ids import request_id
from sync_platform.errors import SyncPlatformError

PREFIX = "/_emulator"


def admin_routes(emulator: Emulator) -> list[Route]:
    async def create(request: Request) -> Response:
        body = await _json(request)
        result = emulator.mutator.create(
            request.path_params["stream"],
            _fields(body),
            account_id=body.get("account"),
            event_type=body.get("event_type"),
            request_id=request_id(),
        )
        return JSONResponse({"object": result.object, "event": result.event})

    async def update(request: Request) -> Response:
        body = await _json(request)
        result = emulator.mutator.update(
            request.path_params["stream"],
            request.path_params["object_id"],
            _fields(body),
            account_id=body.get("account"),
            event_type=body.get("event_type"),
            request_id=request_id(),
        )
        return JSONResponse({"object": result.object, "event": result.event})

    async def delete(request: Request) -> Response:
        result = emulator.mutator.delete(
            request.path_params["stream"],
            request.path_params["object_id"],
            account_id=request.query_params.get("account"),
            event_type=request.query_params.get("event_type"),
            request_id=request_id(),
        )
        return JSONResponse({"object": result.object, "event": result.event})

    async def connect(request: Request) -> Response:
        body = await _json(request)
        account = body.get("account")
        if request.path_params["action"] == "authorize":
            result = emulator.authorize_account(account)
        elif request.path_params["action"] == "deauthorize" and isinstance(account, str):
            result = emulator.deauthorize_account(account)
        elif (
            request.path_params["action"] == "update"
            and isinstance(account, str)
            and isinstance(body.get("metadata"), dict)
        ):
            result = emulator.update_account(account, body["metadata"])
        else:
            raise EmulatorError(
                'Use POST /_emulator/connect/authorize {"account"?}, .../deauthorize {"account"} or '
                '.../update {"account", "metadata"}.'
            )
        return JSONResponse({"object": result.object, "event": result.event})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            try:
                emulator.set_faults(FaultConfig.model_validate(body))
            except ValidationError as error:
                raise EmulatorError(f"Invalid fault settings: {error}") from None
        return JSONResponse(emulator.faults.config.model_dump(mode="json"))

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            if "pinned_second" not in body:
                raise EmulatorError('Send {"pinned_second": <unix seconds> | "now" | null}.')
            pinned = body["pinned_second"]
            if pinned is None:
                emulator.unpin_second()
            elif pinned == "now":
                emulator.pin_second()
            elif isinstance(pinned, int) and not isinstance(pinned, bool):
                emulator.pin_second(pinned)
            else:
                raise EmulatorError('`pinned_second` must be unix seconds, "now" or null.')
        return JSONResponse({"now": emulator.now(), "pinned_second": emulator.pinned_second})

    async def reset(request: Request) -> Response:
        emulator.reset()
        return JSONResponse({"reset": True})

    async def deliveries(request: Request) -> Response:
        return JSONResponse(
            [
                {
                    "event_id": a.event_id,
                    "event_type": a.event_type,
                    "endpoint_id": a.endpoint_id,
                    "url": a.url,
                    "attempt": a.attempt,
                    "status": a.status,
                    "error": a.error,
                    "succeeded": a.succeeded,
                }
                for a in emulator.deliveries
            ]
        )

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            emulator.requests.clear()
            return JSONResponse({"cleared": True})
        return JSONResponse([entry.as_json() for entry in emulator.requests.entries()])

    async def info(request: Request) -> Response:
        with emulator.store.lock:
            accounts = {
                account_id: {
                    name: len(table.index) for name, table in account.tables.items() if len(table.index)
                }
                for account_id, account in ((a.account_id, a) for a in emulator.store.accounts.loaded())
            }
        summary = {"account_id": emulator.account_id, "connected_account_ids": emulator.connected_account_ids}
        return JSONResponse({**summary, "objects": accounts})

    handlers = [
        Route(f"{PREFIX}/objects/{{stream}}", create, methods=["POST"]),
        Route(f"{PREFIX}/objects/{{stream}}/{{object_id}}", update, methods=["POST"]),
        Route(f"{PREFIX}/objects/{{stream}}/{{object_id}}", delete, methods=["DELETE"]),
        Route(f"{PREFIX}/connect/{{action}}", connect, methods=["POST"]),
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/reset", reset, methods=["POST"]),
        Route(f"{PREFIX}/deliveries", deliveries, methods=["GET"]),
        Route(f"{PREFIX}/requests", requests, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/info", info, methods=["GET"]),
    ]
    return [Route(route.path, _with_errors(route.endpoint), methods=route.methods) for route in handlers]


def _with_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    """Turn emulator errors into a JSON 4xx with the message, as the public API does."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as error:
            return JSONResponse(error.body(), error.status)
        except SyncPlatformError as error:  # misuse: unknown stream, bad fields, no such object
            return JSONResponse({"error": {"type": "invalid_request_error", "message": str(error)}}, 400)

    return guarded


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as error:
        raise EmulatorError(
            f"The request body is not valid JSON ({error.msg} at character {error.pos})."
        ) from None
    if not isinstance(body, dict):
        raise EmulatorError("The request body must be a JSON object.")
    return body


def _fields(body: dict[str, Any]) -> dict[str, Any]:
    fields = body.get("fields", {})
    if not isinstance(fields, dict):
        raise EmulatorError("`fields` must be a JSON object of the object's fields.")
    return fields
