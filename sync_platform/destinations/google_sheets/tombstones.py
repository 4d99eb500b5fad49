"""Deleted rows, remembered in a hidden tab so that a late, older version cannot bring them back.

The tab ``_sync_platform_tombstones`` (one for all streams; created with the first deletion) holds
one row per remembered deletion: the stream, the row key (the JSON of the primary-key values, as in
the bookkeeping tabs) and the tombstone's ``_updated_at`` as received. Which version wins is the
destination kit's rule (``versions.decide``); this module only stores the outcome.

Every write to the tab is absolute (these cells hold these values, the grid has this many rows), so
a flush whose outcome was unknown can be sent again safely: a forgotten tombstone's row is blanked
in place rather than deleted, a new one fills the first blank row (or is appended), and trailing
blank rows are cut off by setting the grid's size. ``prune`` rewrites the tab without the rows
past the retention horizon.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sync_platform.destinations.google_sheets.layout import (
    EMPTY_CELL,
    TOMBSTONES_TAB,
    header_row,
    ordering_cell,
    quote_title,
    row_json,
    text_cell,
)
from sync_platform.destinations.google_sheets.sheet_requests import (
    Request,
    add_hidden_tab,
    runs,
    set_grid,
    update_cells,
)
from sync_platform.engine.destination_kit import Version, tombstone_version, version_time

COLUMNS = ("stream", "key", "deleted_at")


@dataclass(frozen=True)
class Tombstone:
    stream: str
    key: str
    deleted_at: Any
    """The tombstone's ``_updated_at`` as received (a number or text)."""
    version: Version


@dataclass(frozen=True)
class TombstoneTab:
    """The tab as the destination knows it; ``rows`` (``None`` = a blank row) once loaded."""

    sheet_id: int
    exists: bool
    grid_rows: int = 1
    rows: tuple[Tombstone | None, ...] | None = None
    positions: Mapping[tuple[str, str], int] = field(default_factory=dict, repr=False)

    @classmethod
    def from_properties(cls, properties: Mapping[str, Any] | None, new_sheet_id: int) -> TombstoneTab:
        """From ``spreadsheets.get`` metadata (``None``: the tab does not exist yet)."""
        if properties is None:
            return cls(sheet_id=new_sheet_id, exists=False).with_rows(())
        grid = properties.get("gridProperties") or {}
        return cls(sheet_id=int(properties["sheetId"]), exists=True, grid_rows=int(grid.get("rowCount", 1)))

    @property
    def loaded(self) -> bool:
        return self.rows is not None

    def cells(self) -> int:
        return self.grid_rows * len(COLUMNS) if self.exists else 0

    def range(self) -> str:
        """The cells holding the tombstones (below the header)."""
        return f"{quote_title(TOMBSTONES_TAB)}!A2:C{max(2, self.grid_rows)}"

    def with_rows(self, rows: tuple[Tombstone | None, ...]) -> TombstoneTab:
        positions = {(row.stream, row.key): index for index, row in enumerate(rows) if row is not None}
        return replace(self, rows=rows, positions=positions)

    def load(self, values: list[list[Any]]) -> TombstoneTab:
        """The tab with its rows read from ``values`` (the cells of ``range()``)."""
        return self.with_rows(tuple(_parse(row) for row in values[: max(0, self.grid_rows - 1)]))

    def of_stream(self, stream: str) -> dict[str, Version]:
        """``key -> version`` of ``stream``'s remembered deletions."""
        assert self.rows is not None
        return {row.key: row.version for row in self.rows if row is not None and row.stream == stream}


def _parse(values: list[Any]) -> Tombstone | None:
    """A row of the tab; a row that is blank or unreadable remembers nothing."""
    if len(values) < len(COLUMNS) or not values[0] or not values[1]:
        return None
    time = version_time(values[2])
    if time is None:
        return None
    return Tombstone(str(values[0]), str(values[1]), values[2], tombstone_version(time))


@dataclass(frozen=True)
class TombstoneChanges:
    """What one flush does to the remembered deletions, per ``(stream, key)``."""

    remember: dict[tuple[str, str], Any] = field(default_factory=dict)  # -> deleted_at as received
    forget: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.remember or self.forget)


def plan_tombstones(tab: TombstoneTab, changes: TombstoneChanges) -> tuple[list[Request], TombstoneTab]:
    """The requests applying ``changes`` to the tab, and the tab as it will be once they succeed."""
    if not changes:
        return [], tab
    assert tab.rows is not None
    rows: list[Tombstone | None] = list(tab.rows)
    written: set[int] = set()
    for where in changes.forget:
        index = tab.positions.get(where)
        if index is not None:
            rows[index] = None
            written.add(index)
    free = (index for index, row in enumerate(rows) if row is None)
    for (stream, key), deleted_at in sorted(changes.remember.items()):
        time = version_time(deleted_at)
        assert time is not None  # the tombstone's version was read from this very value
        index = tab.positions.get((stream, key))
        if index is None:
            index = next(free, None)
        if index is None:
            index = len(rows)
            rows.append(None)
        rows[index] = Tombstone(stream, key, deleted_at, tombstone_version(time))
        written.add(index)
    while rows and rows[-1] is None:
        rows.pop()
    grid_rows = len(rows) + 1
    requests: list[Request] = []
    if not tab.exists:
        if not rows:
            return [], tab
        requests.append(add_hidden_tab(tab.sheet_id, TOMBSTONES_TAB, grid_rows, len(COLUMNS)))
        requests.append(update_cells(tab.sheet_id, 0, [header_row(list(COLUMNS))]))
    elif grid_rows != tab.grid_rows:
        requests.append(set_grid(tab.sheet_id, rows=grid_rows))
    placed = [(index, _row(rows[index])) for index in sorted(written) if index < len(rows)]
    for start, run in runs(placed):
        requests.append(update_cells(tab.sheet_id, start + 1, run))
    after = replace(tab, exists=True, grid_rows=grid_rows).with_rows(tuple(rows))
    return requests, after


def prune_requests(tab: TombstoneTab, older_than_us: int) -> tuple[list[Request], int]:
    """Requests rewriting the (loaded) tab without the tombstones older than the horizon; how many."""
    assert tab.rows is not None
    kept = [row for row in tab.rows if row is not None and row.version.time >= older_than_us]
    pruned = sum(1 for row in tab.rows if row is not None) - len(kept)
    if not pruned:
        return [], 0
    requests = [set_grid(tab.sheet_id, rows=len(kept) + 1)]
    if kept:
        requests.append(update_cells(tab.sheet_id, 1, [_row(row) for row in kept]))
    return requests, pruned


def _row(row: Tombstone | None) -> str:
    if row is None:
        return row_json([EMPTY_CELL] * len(COLUMNS))
    return row_json([text_cell(row.stream), text_cell(row.key), ordering_cell(row.deleted_at)])
