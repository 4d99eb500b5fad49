"""What a Dagster asset (or a person) asks about a synced spreadsheet: rows per tab, and columns.

Blocking functions, since Dagster ops and the CLI are synchronous. A tab's row count comes from the
bookkeeping tab's grid size (kept at exactly ``rows + 1``), so counting every stream is one metadata
read; counting the rows of one Stripe account reads that stream's row keys, which carry the
account id. Columns are the tab's header row, in sheet order; ``tab_rows`` reads a whole tab back
as records (the demo shows its webhook changes from there).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sync_platform.destinations.google_sheets.api import SheetsApi
from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig, load_config
from sync_platform.destinations.google_sheets.connection import connect
from sync_platform.destinations.google_sheets.errors import (
    SpreadsheetMissingError,
    TabConflictError,
    TabNotFoundError,
)
from sync_platform.destinations.google_sheets.layout import index_title, stream_of_index
from sync_platform.destinations.google_sheets.tabs import quote_title
from sync_platform.engine import SystemClock, blocking

ACCOUNT_FIELD = "_account_id"


@dataclass(frozen=True)
class TabSummary:
    """One stream's tab as it is now."""

    stream: str
    sheet_id: int
    row_count: int
    columns: list[str]
    url: str


def _api(config: GoogleSheetsDestinationConfig) -> SheetsApi:
    if config.spreadsheet_id is None:
        raise SpreadsheetMissingError()
    return SheetsApi(connect(config).http_client, config.spreadsheet_id, config, SystemClock())


async def _describe(
    config: GoogleSheetsDestinationConfig, streams: list[str] | None
) -> dict[str, TabSummary]:
    api = _api(config)
    sheets = {s["properties"]["title"]: s["properties"] for s in (await api.metadata()).get("sheets", [])}
    synced = sorted(
        stream for title in sheets if (stream := stream_of_index(title)) is not None and stream in sheets
    )
    wanted = synced if streams is None else streams
    for stream in wanted:
        if stream not in synced:
            raise TabNotFoundError(api.spreadsheet_id, stream, synced)
    headers = await api.values([f"{quote_title(stream)}!1:1" for stream in wanted])
    summaries: dict[str, TabSummary] = {}
    for stream, header in zip(wanted, headers, strict=True):
        data, index = sheets[stream], sheets[index_title(stream)]
        summaries[stream] = TabSummary(
            stream=stream,
            sheet_id=int(data["sheetId"]),
            row_count=int(index["gridProperties"]["rowCount"]) - 1,
            columns=[str(name) for name in (header[0] if header else [])],
            url=f"https://docs.google.com/spreadsheets/d/{api.spreadsheet_id}/edit#gid={data['sheetId']}",
        )
    return summaries


def describe_tabs(
    config: Mapping[str, Any] | GoogleSheetsDestinationConfig, streams: Iterable[str] | None = None
) -> dict[str, TabSummary]:
    """Row count, columns and link of each synced stream's tab (all of them by default); two reads."""
    parsed = load_config(dict(config) if isinstance(config, Mapping) else config)
    return blocking.run(_describe(parsed, list(streams) if streams is not None else None))


def stream_columns(config: Mapping[str, Any] | GoogleSheetsDestinationConfig, stream: str) -> list[str]:
    """The column names of ``stream``'s tab, in sheet order."""
    return describe_tabs(config, [stream])[stream].columns


async def _require_tab(api: SheetsApi, stream: str) -> dict[str, dict[str, Any]]:
    """Every tab's properties by title (one read), once ``stream`` is known to have its tabs.

    Raises ``TabNotFoundError`` naming the streams that do have them.
    """
    sheets = {s["properties"]["title"]: s["properties"] for s in (await api.metadata()).get("sheets", [])}
    if index_title(stream) not in sheets or stream not in sheets:
        synced = sorted(s for t in sheets if (s := stream_of_index(t)) is not None and s in sheets)
        raise TabNotFoundError(api.spreadsheet_id, stream, synced)
    return sheets


async def _row_count(config: GoogleSheetsDestinationConfig, stream: str) -> int:
    """From the bookkeeping tab's grid, kept at exactly ``rows + 1``: one metadata read, no cells."""
    sheets = await _require_tab(_api(config), stream)
    return int(sheets[index_title(stream)]["gridProperties"]["rowCount"]) - 1


async def _tab_rows(config: GoogleSheetsDestinationConfig, stream: str) -> list[dict[str, Any]]:
    api = _api(config)
    await _require_tab(api, stream)
    (values,) = await api.values([quote_title(stream)])
    header, rows = (values[0], values[1:]) if values else ([], [])
    return [{str(name): (row[i] if i < len(row) else "") for i, name in enumerate(header)} for row in rows]


def tab_rows(config: Mapping[str, Any] | GoogleSheetsDestinationConfig, stream: str) -> list[dict[str, Any]]:
    """Every row of ``stream``'s tab as ``{column: value}`` (unformatted values, sheet order); two reads.

    Meant for small tabs and for people (the demo, a quick check); it reads the whole tab at once.
    """
    return blocking.run(
        _tab_rows(load_config(dict(config) if isinstance(config, Mapping) else config), stream)
    )


async def _account_rows(config: GoogleSheetsDestinationConfig, stream: str, account_id: str) -> int:
    api = _api(config)
    await _require_tab(api, stream)
    (rows,) = await api.values([f"{quote_title(index_title(stream))}!A:A"])
    key_fields = json.loads(rows[0][0]) if rows and rows[0] else []
    if ACCOUNT_FIELD not in key_fields:
        raise TabConflictError(
            f"Stream {stream!r} is keyed by {key_fields}, which has no {ACCOUNT_FIELD!r}; its rows cannot "
            "be counted per account. Call row_count without account_id."
        )
    position = key_fields.index(ACCOUNT_FIELD)
    count = 0
    for row in rows[1:]:
        if row and row[0]:
            key = json.loads(row[0])
            if isinstance(key, list) and len(key) > position and key[position] == account_id:
                count += 1
    return count


def row_count(
    config: Mapping[str, Any] | GoogleSheetsDestinationConfig, stream: str, *, account_id: str | None = None
) -> int:
    """How many rows ``stream``'s tab holds, or only those of Stripe account ``account_id``.

    Without ``account_id`` it is one read request: a Dagster run asks once per stream it
    materializes, and reads share the same per-user quota (60 a minute) as the sync's own reads.
    """
    parsed = load_config(dict(config) if isinstance(config, Mapping) else config)
    if account_id is None:
        return blocking.run(_row_count(parsed, stream))
    return blocking.run(_account_rows(parsed, stream, account_id))
