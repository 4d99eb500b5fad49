"""The emulator's HTTP surface: Sheets v4, the Drive v3 calls gspread makes, and google-auth's URLs.

Paths mirror Google's (``/v4/spreadsheets/{id}:batchUpdate``, ``/drive/v3/files``, ``/token``), so a
client only swaps the scheme and host. Ranges arrive percent-encoded (gspread quotes ``:`` and
``!``), so routing splits the raw path before decoding it: a method suffix like ``:append`` is the
only unencoded colon in a segment.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sync_platform.sheets_emulator.auth import TokenError
from sync_platform.sheets_emulator.batch_update import apply_batch_update
from sync_platform.sheets_emulator.emulator import SPREADSHEET_MIME_TYPE, SheetsEmulator
from sync_platform.sheets_emulator.errors import SheetsApiError, not_found
from sync_platform.sheets_emulator.values_api import (
    append_range,
    clear_range,
    input_option,
    read_range,
    render_option,
    write_range,
)


def _flag(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _written_cells(requests: list[Any]) -> int:
    total = 0
    for request in requests:
        if isinstance(request, dict):
            body = request.get("updateCells") or request.get("appendCells")
            if isinstance(body, dict):
                total += sum(len((row or {}).get("values") or []) for row in body.get("rows") or [])
    return total


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise SheetsApiError(400, "Invalid JSON payload received.") from None
    if not isinstance(body, dict):
        raise SheetsApiError(400, "Invalid JSON payload received: expected an object.")
    return body


class _Api:
    """Request handlers bound to one emulator."""

    def __init__(self, emulator: SheetsEmulator) -> None:
        self.emulator = emulator

    async def token(self, request: Request) -> Response:
        # Parsed by hand: Starlette's form parser needs python-multipart, not worth a dependency.
        form = dict(parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True))
        try:
            return JSONResponse(self.emulator.token(form))
        except TokenError as error:
            return JSONResponse(error.oauth_body(), status_code=400)

    async def allowed_locations(self, request: Request) -> Response:
        """IAM's "regional access boundary" lookup, which google-auth makes in the background: the
        answer Google gives an unrestricted account (no boundary), so there is nothing to apply."""
        if not request.url.path.endswith("/allowedLocations"):
            return JSONResponse(not_found().body(), status_code=404)
        self.emulator.note("iam.allowedLocations")
        return JSONResponse({"locations": [], "encodedLocations": "0x0"})

    async def spreadsheets(self, request: Request) -> Response:
        try:
            return await self._spreadsheets(request)
        except SheetsApiError as error:
            return JSONResponse(error.body(), status_code=error.code)

    async def drive(self, request: Request) -> Response:
        try:
            return await self._drive(request)
        except SheetsApiError as error:
            return JSONResponse(error.body(), status_code=error.code)

    # --- Sheets v4 --------------------------------------------------------------------------------

    async def _spreadsheets(self, request: Request) -> Response:
        emulator, auth, method = self.emulator, request.headers.get("authorization"), request.method
        raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        segments = raw.split("?", 1)[0].removeprefix("/v4/spreadsheets").strip("/").split("/")
        params = request.query_params
        if segments == [""]:
            if method != "POST":
                raise not_found()
            body = await _json_body(request)
            title = (body.get("properties") or {}).get("title") or "Untitled spreadsheet"

            def create(identity: str) -> dict[str, Any]:
                spreadsheet = emulator.create_for(identity, title)
                return emulator.resource(spreadsheet, include_grid=False, ranges=None)

            return JSONResponse(emulator.call("spreadsheets.create", auth, create))
        head, _, verb = segments[0].partition(":")
        spreadsheet_id = unquote(head)
        if len(segments) == 1 and not verb and method == "GET":
            include_grid, ranges = _flag(params.get("includeGridData")), params.getlist("ranges") or None

            def get(identity: str) -> dict[str, Any]:
                spreadsheet = emulator.open_for_read(spreadsheet_id, identity)
                return emulator.resource(spreadsheet, include_grid=include_grid, ranges=ranges)

            return JSONResponse(emulator.call("spreadsheets.get", auth, get))
        if len(segments) == 1 and verb == "batchUpdate" and method == "POST":
            body = await _json_body(request)
            requests = body.get("requests")
            if not isinstance(requests, list):
                raise SheetsApiError(400, "Invalid requests: must specify at least one request.")

            def batch_update(identity: str) -> dict[str, Any]:
                replies = emulator.edit(spreadsheet_id, identity, lambda e: apply_batch_update(e, requests))
                emulator.count_cells(_written_cells(requests or []))
                return {"spreadsheetId": spreadsheet_id, "replies": replies}

            return JSONResponse(emulator.call("spreadsheets.batchUpdate", auth, batch_update))
        if len(segments) == 2 and segments[1].startswith("values:"):
            return await self._values_batch(request, spreadsheet_id, segments[1].partition(":")[2])
        if len(segments) == 3 and segments[1] == "values":
            range_part, _, range_verb = segments[2].partition(":")
            return await self._values(request, spreadsheet_id, unquote(range_part), range_verb)
        raise not_found()

    async def _values_batch(self, request: Request, spreadsheet_id: str, verb: str) -> Response:
        emulator, auth, params = self.emulator, request.headers.get("authorization"), request.query_params
        if verb == "batchGet" and request.method == "GET":
            ranges = params.getlist("ranges")
            option = render_option(params.get("valueRenderOption"))
            major = params.get("majorDimension") or "ROWS"

            def batch_get(identity: str) -> dict[str, Any]:
                spreadsheet = emulator.open_for_read(spreadsheet_id, identity)
                return {
                    "spreadsheetId": spreadsheet_id,
                    "valueRanges": [read_range(spreadsheet, text, option, major) for text in ranges],
                }

            return JSONResponse(emulator.call("values.batchGet", auth, batch_get))
        body = await _json_body(request)
        if verb == "batchUpdate" and request.method == "POST":
            entry = input_option(body.get("valueInputOption"))
            data = body.get("data") or []

            def batch_update(identity: str) -> dict[str, Any]:
                def change(edit: Any) -> list[dict[str, Any]]:
                    return [
                        write_range(
                            edit,
                            item["range"],
                            item.get("values") or [],
                            entry,
                            item.get("majorDimension") or "ROWS",
                        )
                        for item in data
                    ]

                responses = emulator.edit(spreadsheet_id, identity, change)
                cells = sum(r["updatedCells"] for r in responses)
                emulator.count_cells(cells)
                return {
                    "spreadsheetId": spreadsheet_id,
                    "totalUpdatedRows": sum(r["updatedRows"] for r in responses),
                    "totalUpdatedColumns": sum(r["updatedColumns"] for r in responses),
                    "totalUpdatedCells": cells,
                    "totalUpdatedSheets": len({r["updatedRange"].rsplit("!", 1)[0] for r in responses}),
                    "responses": responses,
                }

            return JSONResponse(emulator.call("values.batchUpdate", auth, batch_update))
        if verb == "batchClear" and request.method == "POST":
            ranges = body.get("ranges") or []

            def batch_clear(identity: str) -> dict[str, Any]:
                cleared = emulator.edit(
                    spreadsheet_id,
                    identity,
                    lambda e: [clear_range(e, text)["clearedRange"] for text in ranges],
                )
                return {"spreadsheetId": spreadsheet_id, "clearedRanges": cleared}

            return JSONResponse(emulator.call("values.batchClear", auth, batch_clear))
        raise not_found()

    async def _values(self, request: Request, spreadsheet_id: str, text: str, verb: str) -> Response:
        emulator, auth, params, method = (
            self.emulator,
            request.headers.get("authorization"),
            request.query_params,
            request.method,
        )
        if not verb and method == "GET":
            option = render_option(params.get("valueRenderOption"))
            major = params.get("majorDimension") or "ROWS"

            def get(identity: str) -> dict[str, Any]:
                return read_range(emulator.open_for_read(spreadsheet_id, identity), text, option, major)

            return JSONResponse(emulator.call("values.get", auth, get))
        body = await _json_body(request)
        if not verb and method == "PUT":
            entry = input_option(params.get("valueInputOption"))

            def update(identity: str) -> dict[str, Any]:
                result = emulator.edit(
                    spreadsheet_id,
                    identity,
                    lambda e: write_range(
                        e, text, body.get("values") or [], entry, body.get("majorDimension") or "ROWS"
                    ),
                )
                emulator.count_cells(result["updatedCells"])
                return result

            return JSONResponse(emulator.call("values.update", auth, update))
        if verb == "append" and method == "POST":
            entry = input_option(params.get("valueInputOption"))

            def append(identity: str) -> dict[str, Any]:
                result = emulator.edit(
                    spreadsheet_id,
                    identity,
                    lambda e: append_range(e, text, body.get("values") or [], entry),
                )
                emulator.count_cells(result["updates"]["updatedCells"])
                return result

            return JSONResponse(emulator.call("values.append", auth, append))
        if verb == "clear" and method == "POST":

            def clear(identity: str) -> dict[str, Any]:
                return emulator.edit(spreadsheet_id, identity, lambda e: clear_range(e, text))

            return JSONResponse(emulator.call("values.clear", auth, clear))
        raise not_found()

    # --- Drive v3 ---------------------------------------------------------------------------------

    async def _drive(self, request: Request) -> Response:
        emulator, auth, method = self.emulator, request.headers.get("authorization"), request.method
        raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        segments = [
            unquote(s) for s in raw.split("?", 1)[0].removeprefix("/drive/v3/files").strip("/").split("/")
        ]
        if segments == [""] and method == "POST":
            body = await _json_body(request)
            if body.get("mimeType") != SPREADSHEET_MIME_TYPE:
                raise SheetsApiError(400, "The emulator only creates Google Sheets files.")
            name = str(body.get("name") or "Untitled spreadsheet")

            def create(identity: str) -> dict[str, Any]:
                spreadsheet = emulator.create_for(identity, name)
                return {
                    "kind": "drive#file",
                    "id": spreadsheet.spreadsheet_id,
                    "name": name,
                    "mimeType": SPREADSHEET_MIME_TYPE,
                }

            return JSONResponse(emulator.call("drive.files.create", auth, create))
        file_id = segments[0]
        if len(segments) == 1 and method == "GET":

            def get(identity: str) -> dict[str, Any]:
                spreadsheet = emulator.open_for_read(file_id, identity)
                return {
                    "id": file_id,
                    "name": spreadsheet.title,
                    "createdTime": "2026-01-01T00:00:00.000Z",
                    "modifiedTime": "2026-01-01T00:00:00.000Z",
                }

            return JSONResponse(emulator.call("drive.files.get", auth, get))
        if len(segments) == 1 and method == "DELETE":
            emulator.call("drive.files.delete", auth, lambda identity: emulator.delete(file_id, identity))
            return Response(status_code=204)
        if len(segments) == 2 and segments[1] == "permissions" and method == "POST":
            body = await _json_body(request)

            def share(identity: str) -> dict[str, Any]:
                grantee = str(body.get("emailAddress") or body.get("domain") or "anyone")
                emulator.share(file_id, identity, grantee, str(body.get("role")))
                return {
                    "kind": "drive#permission",
                    "id": grantee,
                    "type": body.get("type"),
                    "role": body.get("role"),
                }

            return JSONResponse(emulator.call("drive.permissions.create", auth, share))
        if len(segments) == 2 and segments[1] == "permissions" and method == "GET":

            def listing(identity: str) -> dict[str, Any]:
                emulator.open_for_read(file_id, identity)
                return {
                    "permissions": [
                        {"id": who, "emailAddress": who, "type": "user", "role": role}
                        for who, role in emulator.permissions(file_id).items()
                    ]
                }

            return JSONResponse(emulator.call("drive.permissions.list", auth, listing))
        raise not_found()


def create_app(emulator: SheetsEmulator) -> Starlette:
    """The Starlette app serving ``emulator`` (token, Sheets v4 and Drive v3 routes)."""
    api = _Api(emulator)
    methods = ["GET", "POST", "PUT", "DELETE"]
    return Starlette(
        routes=[
            Route("/token", api.token, methods=["POST"]),
            Route("/v4/spreadsheets", api.spreadsheets, methods=methods),
            Route("/v4/spreadsheets/{rest:path}", api.spreadsheets, methods=methods),
            Route("/drive/v3/files", api.drive, methods=methods),
            Route("/drive/v3/files/{rest:path}", api.drive, methods=methods),
            Route("/v1/{rest:path}", api.allowed_locations, methods=["GET"]),
        ]
    )
