"""The bookkeeping of one spreadsheet: which tabs belong to which stream, and where each row lives.

Each stream has a visible tab (titled with the stream name; header frozen in row 1) and a hidden
bookkeeping tab ``_sync_platform_index.<stream>`` whose row ``r`` holds the row key (JSON of the
primary key values), ``_updated_at`` and the version's tie-break digest (the destination kit's
version order) of data row ``r``. Row 1 of the bookkeeping tab records the key fields and the
ordering field, so a changed primary key is caught instead of misapplied. Deleted rows are
remembered in one more hidden tab, shared by all streams (``tombstones.py``).

Why one bookkeeping tab per stream rather than one shared tab: Google counts *grid* cells against
the 10,000,000-cell cap, and a shared tab's grid is as tall as the largest stream times two columns
per stream; per-stream tabs cost two cells per row. Keeping the bookkeeping row-aligned with the data
means one ``deleteDimension`` on both tabs compacts them together, and the bookkeeping tab's grid is
kept exactly ``rows + 1`` tall, so a row count is one metadata read away.

Tabs are "ours" only when both exist: a visible tab with a stream's name but no bookkeeping tab is
the user's and is never written to or removed.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field, replace
from typing import Any

from sync_platform.destinations.google_sheets.errors import TabConflictError
from sync_platform.destinations.google_sheets.layout import (
    TOMBSTONES_TAB,
    index_title,
    key_fields,
    merge_columns,
    quote_title,
    schema_columns,
)
from sync_platform.destinations.google_sheets.tombstones import TombstoneTab
from sync_platform.engine.destination_kit import OLDEST, Version, version_time
from sync_platform.protocol import ConfiguredCatalog, Stream

INDEX_COLUMNS = 3  # key, ordering value, tie-break digest
DATA_HEADER_ROWS = 1


@dataclass
class TabState:
    """What the destination knows about one stream's pair of tabs."""

    stream: str
    sheet_id: int
    index_sheet_id: int
    exists: bool
    columns: list[str]
    header_width: int
    grid_rows: int
    grid_columns: int
    index_grid_rows: int
    key_fields: list[str]
    ordering_field: str
    index_grid_columns: int = INDEX_COLUMNS  # an index tab from before the digest has 2
    keys: list[str] | None = None
    versions: list[Version] | None = None
    positions: dict[str, int] | None = field(default=None, repr=False)

    @property
    def row_count(self) -> int:
        return self.index_grid_rows - 1

    @property
    def loaded(self) -> bool:
        return self.keys is not None

    def cells(self) -> int:
        """Grid cells both tabs occupy (0 while they do not exist yet)."""
        if not self.exists:
            return 0
        return self.grid_rows * self.grid_columns + self.index_grid_rows * self.index_grid_columns

    def with_rows(self, keys: list[str], versions: list[Version]) -> TabState:
        return replace(
            self, keys=keys, versions=versions, positions={key: i for i, key in enumerate(keys) if key}
        )


@dataclass
class SpreadsheetLayout:
    """Every tab of the spreadsheet as far as the destination cares, plus the whole grid's size.

    ``conflicts`` lists the streams whose tabs cannot be used (and why); they have no entry in
    ``tabs``.
    """

    spreadsheet_id: str
    tabs: dict[str, TabState]
    sheet_cells: dict[int, int]
    sheet_titles: dict[int, str]
    tombstones: TombstoneTab
    conflicts: dict[str, TabConflictError] = field(default_factory=dict)

    def total_cells(self) -> int:
        return sum(self.sheet_cells.values())

    def install(self, tab: TabState) -> None:
        """Record ``tab`` as it now is on the sheet (after a successful flush)."""
        self.tabs[tab.stream] = tab
        if tab.exists:
            self.sheet_cells[tab.sheet_id] = tab.grid_rows * tab.grid_columns
            self.sheet_cells[tab.index_sheet_id] = tab.index_grid_rows * tab.index_grid_columns
            self.sheet_titles[tab.sheet_id] = tab.stream
            self.sheet_titles[tab.index_sheet_id] = index_title(tab.stream)

    def install_tombstones(self, tombstones: TombstoneTab) -> None:
        """Record the tombstone tab as it now is on the sheet (after a successful flush)."""
        self.tombstones = tombstones
        if tombstones.exists:
            self.sheet_cells[tombstones.sheet_id] = tombstones.cells()
            self.sheet_titles[tombstones.sheet_id] = TOMBSTONES_TAB


def _properties_by_title(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {sheet["properties"]["title"]: sheet["properties"] for sheet in metadata.get("sheets", [])}


def _new_sheet_id(taken: set[int]) -> int:
    while True:
        candidate = 1 + secrets.randbelow(2**31 - 2)
        if candidate not in taken:
            taken.add(candidate)
            return candidate


def read_layout(spreadsheet_id: str, metadata: dict[str, Any], streams: list[Stream]) -> SpreadsheetLayout:
    """The layout from ``spreadsheets.get`` metadata; headers and keys are loaded later.

    A tab that carries a stream's name but is not ours, or a bookkeeping tab whose data tab was
    renamed or deleted, puts the stream in ``conflicts`` instead.
    """
    by_title = _properties_by_title(metadata)
    folded = {title.casefold(): title for title in by_title}
    taken = {int(p["sheetId"]) for p in by_title.values()}
    cells: dict[int, int] = {}
    for properties in by_title.values():
        grid = properties.get("gridProperties") or {}
        cells[int(properties["sheetId"])] = int(grid.get("rowCount", 0)) * int(grid.get("columnCount", 0))
    tabs: dict[str, TabState] = {}
    conflicts: dict[str, TabConflictError] = {}
    for stream in streams:
        data = by_title.get(stream.name)
        index = by_title.get(index_title(stream.name))
        columns = schema_columns(stream)
        if data is None and index is None:
            clash = folded.get(stream.name.casefold()) or folded.get(index_title(stream.name).casefold())
            if clash is not None:
                conflicts[stream.name] = _foreign_tab(spreadsheet_id, stream.name, clash)
                continue
            tabs[stream.name] = TabState(
                stream=stream.name,
                sheet_id=_new_sheet_id(taken),
                index_sheet_id=_new_sheet_id(taken),
                exists=False,
                columns=columns,
                header_width=0,
                grid_rows=DATA_HEADER_ROWS + 1,
                grid_columns=max(1, len(columns)),
                index_grid_rows=1,
                key_fields=key_fields(stream),
                ordering_field=stream.newer_than_field,
            ).with_rows([], [])
            continue
        if index is None:
            conflicts[stream.name] = _foreign_tab(spreadsheet_id, stream.name, stream.name)
            continue
        if data is None:
            conflicts[stream.name] = TabConflictError(
                f"The tab {stream.name!r} that sync_platform created in spreadsheet {spreadsheet_id!r} was "
                f"renamed or deleted, but its hidden bookkeeping tab {index_title(stream.name)!r} is still "
                f"there. Rename the tab back to {stream.name!r}; or, to start the stream over, delete the "
                "hidden tab too and reset the stream's sync state so it backfills."
            )
            continue
        grid = data.get("gridProperties") or {}
        index_grid = index.get("gridProperties") or {}
        tabs[stream.name] = TabState(
            index_grid_columns=int(index_grid.get("columnCount", INDEX_COLUMNS)),
            stream=stream.name,
            sheet_id=int(data["sheetId"]),
            index_sheet_id=int(index["sheetId"]),
            exists=True,
            columns=columns,
            header_width=0,
            grid_rows=int(grid.get("rowCount", 1)),
            grid_columns=int(grid.get("columnCount", 1)),
            index_grid_rows=int(index_grid.get("rowCount", 1)),
            key_fields=key_fields(stream),
            ordering_field=stream.newer_than_field,
        )
    titles = {int(p["sheetId"]): title for title, p in by_title.items()}
    tombstones = TombstoneTab.from_properties(by_title.get(TOMBSTONES_TAB), _new_sheet_id(taken))
    return SpreadsheetLayout(spreadsheet_id, tabs, cells, titles, tombstones, conflicts)


def _foreign_tab(spreadsheet_id: str, stream: str, title: str) -> TabConflictError:
    return TabConflictError(
        f"Spreadsheet {spreadsheet_id!r} already has a tab {title!r} that sync_platform did not create "
        f"(it has no hidden bookkeeping tab), so stream {stream!r} cannot use it. Rename or delete that "
        "tab, or point the pipeline at another spreadsheet."
    )


def header_ranges(tab: TabState) -> list[str]:
    """The ranges that hold a tab's header and its bookkeeping header."""
    return [f"{quote_title(tab.stream)}!1:1", f"{quote_title(index_title(tab.stream))}!A1:B1"]


def apply_headers(tab: TabState, header: list[list[Any]], index_header: list[list[Any]]) -> TabState:
    """``tab`` with the columns found on the sheet (plus new schema columns appended)."""
    on_sheet = [str(name) for name in (header[0] if header else [])]
    recorded = index_header[0] if index_header else []
    recorded_keys = _parse_key_fields(recorded[0] if recorded else None)
    recorded_ordering = str(recorded[1]) if len(recorded) > 1 else None
    if recorded_keys != tab.key_fields or recorded_ordering != tab.ordering_field:
        raise TabConflictError(
            f"Stream {tab.stream!r} is keyed by {tab.key_fields} ordered by {tab.ordering_field!r}, but its "
            f"tab was written with key {recorded_keys} ordered by {recorded_ordering!r}. The existing row "
            "keys cannot be reused: run teardown for this spreadsheet (it removes only sync_platform's "
            "tabs) and sync the stream again."
        )
    if tab.grid_rows < tab.index_grid_rows:
        raise TabConflictError(
            f"Tab {tab.stream!r} has {tab.grid_rows - 1} data rows but its bookkeeping tab tracks "
            f"{tab.index_grid_rows - 1}: rows were deleted by hand, so row positions are no longer "
            "known. Run teardown for this spreadsheet and sync again; edit synced tabs only through "
            "Stripe."
        )
    return replace(tab, columns=merge_columns(on_sheet, tab.columns), header_width=len(on_sheet))


def _parse_key_fields(value: Any) -> list[str] | None:
    try:
        parsed = json.loads(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return [str(item) for item in parsed] if isinstance(parsed, list) else None


def keys_range(tab: TabState) -> str:
    last = "C" if tab.index_grid_columns >= INDEX_COLUMNS else "B"  # never read past the grid
    return f"{quote_title(index_title(tab.stream))}!A2:{last}{max(2, tab.index_grid_rows)}"


def apply_keys(tab: TabState, rows: list[list[Any]]) -> TabState:
    """``tab`` with its row keys and versions loaded (blank keys, if any, match nothing).

    A row whose version cannot be read (none recorded) counts as the oldest: any version beats it.
    """
    count = tab.row_count
    keys: list[str] = []
    versions: list[Version] = []
    for position in range(count):
        row = rows[position] if position < len(rows) else []
        keys.append(str(row[0]) if row and row[0] != "" else "")
        time = version_time(row[1]) if len(row) > 1 else None
        digest = str(row[2]) if len(row) > 2 else ""
        versions.append(OLDEST if time is None else Version(time, False, digest))
    return tab.with_rows(keys, versions)


def catalog_streams(catalog: ConfiguredCatalog) -> list[Stream]:
    return [configured.stream for configured in catalog.streams]
