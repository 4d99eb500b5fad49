"""``GoogleSheetsDestination``: check, setup, write and teardown for the ``google_sheets`` connector.

Setup creates the spreadsheet when the config has no ``spreadsheet_id`` and reports the id at once
in a ``destination_config`` control message (the full replacement config), so the orchestrator
stores it and no later run creates another spreadsheet (reference bug 23). ``write`` never
creates one. Teardown removes only the tabs this destination created, never the spreadsheet.
``prune_tombstones`` is the destination kit's retention hook for the remembered deletions, and
``purge_account`` its hook removing one account's rows (``purge.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import google.auth.exceptions
import gspread

from sync_platform.destinations.google_sheets.config import (
    GoogleSheetsDestinationConfig,
    load_config,
)
from sync_platform.destinations.google_sheets.connection import (
    NETWORK_ERRORS,
    api_error_message,
    api_error_status,
    auth_request,
    build_credentials,
    connect,
    create_spreadsheet,
    credentials_rejected,
)
from sync_platform.destinations.google_sheets.errors import (
    SheetsApiCallError,
    SheetsDestinationError,
    SpreadsheetMissingError,
)
from sync_platform.destinations.google_sheets.layout import TOMBSTONES_TAB, stream_of_index
from sync_platform.destinations.google_sheets.purge import purge_account_rows
from sync_platform.destinations.google_sheets.session import SheetsSession
from sync_platform.destinations.google_sheets.tabs import catalog_streams
from sync_platform.destinations.google_sheets.writer import SheetsWriter
from sync_platform.engine import Clock, SystemClock, blocking
from sync_platform.engine.connectors import Config
from sync_platform.engine.destination_kit import version_time
from sync_platform.errors import ConfigError, failure_kind_of
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusPayload,
    ConnectorSpecification,
    LogLevel,
    Message,
    destination_config_control,
    log,
)


class GoogleSheetsDestination:
    """Registered as ``google_sheets``. ``clock`` drives backoff and quota pacing (tests pass a fake)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def spec(self) -> ConnectorSpecification:
        # A flush at the end of input can take a while under quota: stop reading at half the time limit.
        return ConnectorSpecification(
            config=GoogleSheetsDestinationConfig.model_json_schema(), soft_limit_fraction=0.5
        )

    def validate_config(self, config: Config) -> None:
        """Offline: exactly one credential, a key file with the fields Google needs, a loopback
        ``api_base_url`` only."""
        load_config(config)

    async def check(self, config: Config) -> ConnectionStatusPayload:
        """Open the spreadsheet (or, before setup, just get a token); explain any failure."""
        try:
            parsed = load_config(config)
            if parsed.spreadsheet_id is None:
                await asyncio.to_thread(_refresh_token, parsed)
                message = f"Credentials of {parsed.identity} accepted; setup will create the spreadsheet."
            else:
                session = await SheetsSession.open(parsed, [], self.clock)
                title = (session.metadata.get("properties") or {}).get("title", "")
                message = (
                    f"Spreadsheet {title!r} ({parsed.spreadsheet_id}) is reachable as {parsed.identity}."
                )
        except (ConfigError, SheetsDestinationError) as error:
            return ConnectionStatusPayload(
                status=ConnectionStatus.FAILED, message=str(error), failure_kind=failure_kind_of(error)
            )
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED, message=message)

    async def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        """Create the spreadsheet if needed (reporting its id first), share it, and create the tabs."""
        parsed = load_config(config)
        created = parsed.spreadsheet_id is None
        client = connect(parsed)
        if created:
            spreadsheet = await asyncio.to_thread(create_spreadsheet, client, parsed)
            parsed = parsed.model_copy(update={"spreadsheet_id": spreadsheet.id})
            # Reported before anything else can fail, so a retried setup reuses this spreadsheet.
            yield destination_config_control({**config, "spreadsheet_id": spreadsheet.id})
        spreadsheet_id = str(parsed.spreadsheet_id)
        for email in parsed.share_with:
            await asyncio.to_thread(_share, client, parsed, spreadsheet_id, email)
        session = await SheetsSession.open(parsed, catalog_streams(catalog), self.clock)
        if session.conflicts:
            raise next(iter(session.conflicts.values()))
        extra: list[dict[str, Any]] = []
        placeholder = _untouched_placeholder(session.metadata) if created else None
        if placeholder is not None and catalog.streams:
            extra.append({"deleteSheet": {"sheetId": placeholder}})
        await session.flush(dict.fromkeys(session.streams), extra_requests=extra)
        yield log(
            LogLevel.INFO,
            f"google_sheets: spreadsheet {spreadsheet_id} has the tabs of {len(session.streams)} streams",
            data={"spreadsheet_id": spreadsheet_id, "created": created, "streams": sorted(session.streams)},
        )

    async def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        parsed = load_config(config)
        if parsed.spreadsheet_id is None:
            raise SpreadsheetMissingError()
        session = await SheetsSession.open(parsed, catalog_streams(catalog), self.clock)
        async for message in SheetsWriter(session, parsed).run(messages):
            yield message

    def prune_tombstones(self, config: Config, older_than: datetime) -> int:
        """Forget the deletions remembered from before ``older_than``; how many (blocking)."""
        parsed = load_config(config)
        if parsed.spreadsheet_id is None:
            return 0  # never set up: nothing remembered
        horizon = version_time(older_than)
        assert horizon is not None  # a datetime always has a time

        async def prune() -> int:
            session = await SheetsSession.open(parsed, [], self.clock)
            return await session.prune_tombstones(horizon)

        return blocking.run(prune())

    def purge_account(self, config: Config, account_id: str) -> int:
        """Remove every row of ``account_id`` from the tabs; how many (blocking)."""
        parsed = load_config(config)
        if parsed.spreadsheet_id is None:
            return 0  # never set up: no rows
        return blocking.run(purge_account_rows(parsed, self.clock, account_id))

    async def teardown(self, config: Config) -> AsyncIterator[Message]:
        """Delete this destination's tabs (visible and bookkeeping); the spreadsheet itself stays."""
        parsed = load_config(config)
        if parsed.spreadsheet_id is None:
            yield log(LogLevel.INFO, "google_sheets: no spreadsheet_id, so there is nothing to tear down")
            return
        session = await SheetsSession.open(parsed, [], self.clock)
        sheets = [sheet["properties"] for sheet in session.metadata.get("sheets", [])]
        by_title = {properties["title"]: properties for properties in sheets}
        ours: list[str] = [TOMBSTONES_TAB] if TOMBSTONES_TAB in by_title else []
        for title in list(by_title):
            stream = stream_of_index(title)
            if stream is not None:
                ours.append(title)
                if stream in by_title:
                    ours.append(stream)
        if not ours:
            yield log(
                LogLevel.INFO, f"google_sheets: spreadsheet {parsed.spreadsheet_id} holds no tabs of ours"
            )
            return
        requests: list[dict[str, Any]] = []
        if all(p["title"] in ours or p.get("hidden") for p in sheets):
            requests.append({"addSheet": {"properties": {"title": _free_title(by_title, "Sheet1")}}})
        requests += [{"deleteSheet": {"sheetId": by_title[title]["sheetId"]}} for title in ours]
        await session.api.batch_update(requests)
        streams = sorted(t for t in ours if stream_of_index(t) is None and t != TOMBSTONES_TAB)
        yield log(
            LogLevel.INFO,
            f"google_sheets: removed the tabs of {len(streams)} streams from {parsed.spreadsheet_id}",
            data={"spreadsheet_id": parsed.spreadsheet_id, "streams": streams},
        )


def _refresh_token(config: GoogleSheetsDestinationConfig) -> None:
    try:
        build_credentials(config).refresh(auth_request(config))  # type: ignore[no-untyped-call]  # untyped lib
    except google.auth.exceptions.RefreshError as error:
        raise credentials_rejected(config, error) from None
    except google.auth.exceptions.TransportError as error:
        raise SheetsApiCallError("token", None, f"Could not reach Google's token endpoint: {error}") from None


def _share(
    client: gspread.Client, config: GoogleSheetsDestinationConfig, spreadsheet_id: str, email: str
) -> None:
    try:
        client.insert_permission(spreadsheet_id, email, perm_type="user", role="writer", notify=False)
    except google.auth.exceptions.RefreshError as error:
        raise credentials_rejected(config, error) from None
    except gspread.exceptions.APIError as error:
        raise SheetsApiCallError(
            "drive.permissions.create",
            api_error_status(error),
            f"Sharing spreadsheet {spreadsheet_id!r} with {email} failed: {api_error_message(error)}",
        ) from None
    except NETWORK_ERRORS as error:
        raise SheetsApiCallError(
            "drive.permissions.create",
            None,
            f"Sharing spreadsheet {spreadsheet_id!r} with {email} failed: Google could not be reached "
            f"({type(error).__name__}).",
        ) from None


def _untouched_placeholder(metadata: dict[str, Any]) -> int | None:
    """The id of the blank first tab a just-created spreadsheet comes with (``Sheet1``)."""
    sheets = metadata.get("sheets", [])
    return int(sheets[0]["properties"]["sheetId"]) if len(sheets) == 1 else None


def _free_title(by_title: dict[str, Any], wanted: str) -> str:
    title, number = wanted, 1
    while title in by_title:
        number += 1
        title = f"Sheet{number}"
    return title
