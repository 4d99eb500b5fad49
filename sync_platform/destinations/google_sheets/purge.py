"""Removing one account's rows from every tab: the destination kit's ``purge_account`` hook.

The rows are found by their bookkeeping keys, not by reading the visible tabs: a row key is the
JSON of the primary-key values, which carry ``_account_id`` for every Stripe stream (and the
conformance suite's), so one read of every bookkeeping tab's key column finds them all. They are
deleted bottom-up on both tabs of each stream, exactly as a flush compacts deleted rows (so the
two tabs stay row-aligned), in one atomic ``batchUpdate`` for the whole spreadsheet. A tab keyed
without ``_account_id`` holds no rows that can be told apart by account and is left as it is.

The account's remembered deletions stay (``engine/destination_kit/purge.py`` says why). If the
``batchUpdate`` fails ambiguously (a 5xx, a dropped connection), the keys are read again: none of
the account's rows left means it was applied; the same rows as before means it was not and is
sent again; anything else is reported, never guessed (a row deletion replayed on moved rows would
delete other accounts' rows).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync_platform.destinations.google_sheets.api import SheetsApi
from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.connection import connect
from sync_platform.destinations.google_sheets.errors import FlushOutcomeUnknownError, TabConflictError
from sync_platform.destinations.google_sheets.layout import index_title, quote_title, stream_of_index
from sync_platform.destinations.google_sheets.plan import delete_rows, runs_bottom_up
from sync_platform.destinations.google_sheets.sheet_requests import Request, set_grid
from sync_platform.destinations.google_sheets.tabs import DATA_HEADER_ROWS
from sync_platform.engine import Clock
from sync_platform.engine.destination_kit import ACCOUNT_FIELD


@dataclass(frozen=True)
class TabPurge:
    """One stream's rows of the account: their positions (0 = the first data row)."""

    stream: str
    sheet_id: int
    index_sheet_id: int
    grid_rows: int
    positions: tuple[int, ...]

    def requests(self) -> list[Request]:
        """Delete the rows on both tabs, lowest run last (so the positions stay valid)."""
        requests: list[Request] = []
        grid_rows = self.grid_rows
        if grid_rows - len(self.positions) <= DATA_HEADER_ROWS:  # Sheets keeps a non-frozen row
            requests.append(set_grid(self.sheet_id, rows=DATA_HEADER_ROWS + len(self.positions) + 1))
        for start, end in runs_bottom_up(set(self.positions)):
            requests.append(delete_rows(self.sheet_id, start + DATA_HEADER_ROWS, end + DATA_HEADER_ROWS))
            requests.append(delete_rows(self.index_sheet_id, start + 1, end + 1))
        return requests


async def purge_account_rows(config: GoogleSheetsDestinationConfig, clock: Clock, account_id: str) -> int:
    """Delete every row of ``account_id`` from the spreadsheet's tabs; how many (3 requests)."""
    assert config.spreadsheet_id is not None  # the destination returns 0 before setup
    api = SheetsApi(connect(config).http_client, config.spreadsheet_id, config, clock)
    purges = await _find(api, account_id, None)
    if not purges:
        return 0
    streams = [purge.stream for purge in purges]

    async def settle() -> bool:
        """After an ambiguous failure: applied (True), not applied (False), or unknown (raise)."""
        again = await _find(api, account_id, streams)
        if not again:
            return True
        if again == purges:
            return False
        raise FlushOutcomeUnknownError(
            f"Removing the rows of account {account_id} from spreadsheet {config.spreadsheet_id!r} failed, "
            "and its rows now match neither the state before nor after the removal (was the sheet "
            "edited meanwhile?). Nothing was retried; the next purge reads the sheet afresh."
        )

    await api.batch_update([request for purge in purges for request in purge.requests()], settle=settle)
    return sum(len(purge.positions) for purge in purges)


async def _find(api: SheetsApi, account_id: str, streams: list[str] | None) -> list[TabPurge]:
    """Where the account's rows are, per stream tab of ours (or of ``streams``): two reads."""
    sheets = {s["properties"]["title"]: s["properties"] for s in (await api.metadata()).get("sheets", [])}
    ours = sorted(s for t in sheets if (s := stream_of_index(t)) is not None and s in sheets)
    wanted = [s for s in ours if streams is None or s in streams]
    keys = await api.values([f"{quote_title(index_title(stream))}!A:A" for stream in wanted])
    found: list[TabPurge] = []
    for stream, rows in zip(wanted, keys, strict=True):
        data, index = sheets[stream], sheets[index_title(stream)]
        index_rows, grid_rows = _grid_rows(index), _grid_rows(data)
        position = _account_position(rows)
        if position is None:
            continue
        if grid_rows < index_rows:
            raise TabConflictError(
                f"Tab {stream!r} has {grid_rows - 1} data rows but its bookkeeping tab tracks "
                f"{index_rows - 1}: rows were deleted by hand, so the rows of account {account_id} "
                "cannot be found safely. Run teardown for this spreadsheet and sync again."
            )
        positions = tuple(
            i for i, row in enumerate(rows[1:index_rows]) if _key_account(row, position) == account_id
        )
        if positions:
            found.append(TabPurge(stream, int(data["sheetId"]), int(index["sheetId"]), grid_rows, positions))
    return found


def _grid_rows(properties: Mapping[str, Any]) -> int:
    return int((properties.get("gridProperties") or {}).get("rowCount", 1))


def _account_position(rows: list[list[Any]]) -> int | None:
    """Where ``_account_id`` sits in the tab's row keys (from the key fields in row 1), if at all."""
    try:
        fields = json.loads(rows[0][0]) if rows and rows[0] else None
    except ValueError:
        return None
    if not isinstance(fields, list) or ACCOUNT_FIELD not in fields:
        return None
    return fields.index(ACCOUNT_FIELD)


def _key_account(row: list[Any], position: int) -> Any:
    """The account in one row key (None for a blank or unreadable key)."""
    try:
        key = json.loads(row[0]) if row and row[0] else None
    except (TypeError, ValueError):
        return None
    return key[position] if isinstance(key, list) and len(key) > position else None
