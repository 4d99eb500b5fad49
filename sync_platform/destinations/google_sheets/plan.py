"""Turns buffered changes into one atomic ``batchUpdate``: tabs, compaction, updates and appends.

Planning is pure: from the tabs as they are and the newest buffered version of each row key, it
computes the requests and the tabs as they will be once the request succeeds, so a failed request
leaves the destination's bookkeeping untouched. Per stream, in order:

1. create both tabs (header frozen in row 1) or extend the header with new columns;
2. resolve each key with the destination kit's rule (``versions.decide``) against its row's version
   or its remembered tombstone: a live version that wins is appended (new key, or one whose
   tombstone it beats) or updated in place; a tombstone that wins deletes the row, if there is
   one, and is remembered; anything else is stale;
3. delete the rows of tombstones on both tabs bottom-up (``deleteDimension``), which compacts the
   tab with no holes and keeps the two tabs row-aligned;
4. set both grids to exactly the rows needed, then write updated rows (one ``updateCells`` per
   contiguous run) and appended rows (one block).

Then the remembered deletions of every stream are updated in their hidden tab (``tombstones.py``).
The cell count after the flush is computed before anything is sent: crossing the 10,000,000-cell
cap fails the flush with ``CellLimitError`` and no partial write.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from sync_platform.destinations.google_sheets.errors import CellLimitError
from sync_platform.destinations.google_sheets.layout import (
    EMPTY_CELL,
    header_row,
    index_title,
    ordering_cell,
    text_cell,
)
from sync_platform.destinations.google_sheets.sheet_requests import (
    Request,
    encode_request,
    runs,
    set_grid,
    update_cells,
)
from sync_platform.destinations.google_sheets.tabs import (
    DATA_HEADER_ROWS,
    INDEX_COLUMNS,
    SpreadsheetLayout,
    TabState,
)
from sync_platform.destinations.google_sheets.tombstones import (
    TombstoneChanges,
    TombstoneTab,
    plan_tombstones,
)
from sync_platform.engine.destination_kit import Change, FlushReport, Version, decide

CELL_LIMIT = 10_000_000
VERSION_DIGEST = "_version_digest"  # the bookkeeping tab's third column: the kit's tie-break


@dataclass
class PendingRow:
    """The newest buffered version of one row key; ``cells`` is ``None`` for a tombstone.

    ``cells`` holds the row's ``CellData`` as comma-joined JSON, ``width`` of them; ``ordering``
    is its ``_updated_at`` as received, and ``version`` where it stands in the kit's order.
    """

    key: str
    ordering: Any
    version: Version
    cells: str | None
    width: int = 0


@dataclass
class StreamChanges:
    rows: dict[str, PendingRow] = field(default_factory=dict)
    superseded: int = 0  # versions dropped in the buffer because a newer one of the same key arrived


@dataclass(frozen=True)
class StreamOutcome:
    inserted: int = 0
    updated: int = 0
    skipped_stale: int = 0
    deleted: int = 0

    def report(self, stream: str, tab: str) -> FlushReport:
        return FlushReport(
            stream=stream,
            where=tab,
            inserted=self.inserted,
            updated=self.updated,
            skipped_stale=self.skipped_stale,
            deleted=self.deleted,
        )


@dataclass
class FlushPlan:
    requests: list[Request]
    tabs_after: dict[str, TabState]
    outcomes: dict[str, StreamOutcome]
    cells_after: int
    tombstones_after: TombstoneTab


def plan_flush(
    layout: SpreadsheetLayout, changes: dict[str, StreamChanges | None], *, cell_limit: int = CELL_LIMIT
) -> FlushPlan:
    """The whole flush for ``changes`` (``None`` = only make sure the stream's tabs are current)."""
    requests: list[Request] = []
    tabs_after: dict[str, TabState] = {}
    outcomes: dict[str, StreamOutcome] = {}
    cells_after = layout.total_cells()
    tombstone_changes = TombstoneChanges()
    for stream, stream_changes in changes.items():
        before = layout.tabs[stream]
        stream_requests, after, outcome = plan_stream(
            before, stream_changes, layout.tombstones, tombstone_changes
        )
        requests.extend(stream_requests)
        tabs_after[stream] = after
        outcomes[stream] = outcome
        cells_after += after.cells() - before.cells()
    tombstone_requests, tombstones_after = plan_tombstones(layout.tombstones, tombstone_changes)
    requests.extend(tombstone_requests)
    cells_after += tombstones_after.cells() - layout.tombstones.cells()
    if cells_after > cell_limit:
        raise CellLimitError(layout.spreadsheet_id, cells_after, cell_limit, sorted(changes))
    return FlushPlan(requests, tabs_after, outcomes, cells_after, tombstones_after)


def plan_stream(
    tab: TabState,
    changes: StreamChanges | None,
    tombstones: TombstoneTab,
    tombstone_changes: TombstoneChanges,
) -> tuple[list[Request], TabState, StreamOutcome]:
    """One stream's requests; the deletions it remembers or forgets go into ``tombstone_changes``."""
    requests: list[Request] = []
    if not tab.exists:
        requests.extend(_create_tabs(tab))
        tab = replace(tab, exists=True, header_width=len(tab.columns), grid_columns=max(1, len(tab.columns)))
    elif tab.header_width < len(tab.columns):
        if tab.grid_columns < len(tab.columns):
            requests.append(set_grid(tab.sheet_id, columns=len(tab.columns)))
        requests.append(update_cells(tab.sheet_id, 0, [header_row(tab.columns)]))
        tab = replace(
            tab, header_width=len(tab.columns), grid_columns=max(tab.grid_columns, len(tab.columns))
        )
    if changes is None or not changes.rows:
        return requests, tab, StreamOutcome(skipped_stale=changes.superseded if changes else 0)
    # Keys are loaded before any stream with changes is planned (SheetsSession.flush).
    assert tab.keys is not None
    assert tab.versions is not None
    assert tab.positions is not None
    remembered = tombstones.of_stream(tab.stream)

    appends: list[PendingRow] = []
    updates: dict[int, PendingRow] = {}
    deletes: set[int] = set()
    counts = dict.fromkeys(Change, 0)
    for row in changes.rows.values():
        position = tab.positions.get(row.key)
        current = tab.versions[position] if position is not None else remembered.get(row.key)
        change = decide(row.version, current)
        counts[change] += 1
        if change is Change.DELETE:
            if position is not None:
                deletes.add(position)
            tombstone_changes.remember[(tab.stream, row.key)] = row.ordering
        elif change is Change.INSERT:
            appends.append(row)
            if row.key in remembered:
                tombstone_changes.forget.add((tab.stream, row.key))
        elif change is Change.UPDATE:
            assert position is not None
            updates[position] = row

    keys, versions = tab.keys, tab.versions
    grid_rows, index_rows = tab.grid_rows, tab.index_grid_rows
    if deletes:
        if grid_rows - len(deletes) <= DATA_HEADER_ROWS:  # Sheets never deletes every non-frozen row
            grid_rows = DATA_HEADER_ROWS + len(deletes) + 1
            requests.append(set_grid(tab.sheet_id, rows=grid_rows))
        for start, end in runs_bottom_up(deletes):
            requests.append(delete_rows(tab.sheet_id, start + DATA_HEADER_ROWS, end + DATA_HEADER_ROWS))
            requests.append(delete_rows(tab.index_sheet_id, start + 1, end + 1))
        grid_rows -= len(deletes)
        index_rows -= len(deletes)
        survivors = [position for position in range(len(keys)) if position not in deletes]
        moved = {old: new for new, old in enumerate(survivors)}
        keys = [keys[position] for position in survivors]
        versions = [versions[position] for position in survivors]
    else:
        moved = {}
        keys, versions = list(keys), list(versions)
    first_append = len(keys)
    for row in appends:
        keys.append(row.key)
        versions.append(row.version)
    final_grid_rows = max(grid_rows, len(keys) + DATA_HEADER_ROWS, DATA_HEADER_ROWS + 1)
    if final_grid_rows != grid_rows:
        requests.append(set_grid(tab.sheet_id, rows=final_grid_rows))
    index_columns = tab.index_grid_columns
    if (updates or appends) and index_columns < INDEX_COLUMNS:  # an index tab from before the digest
        index_columns = INDEX_COLUMNS
        requests.append(set_grid(tab.index_sheet_id, columns=INDEX_COLUMNS))
    if index_rows != len(keys) + 1:
        requests.append(set_grid(tab.index_sheet_id, rows=len(keys) + 1))

    width = len(tab.columns)
    placed = sorted((moved.get(old, old), row) for old, row in updates.items())
    for position, row in placed:
        versions[position] = row.version
    for start, run in runs(placed):
        requests.append(
            update_cells(tab.sheet_id, start + DATA_HEADER_ROWS, [_data_row(r, width) for r in run])
        )
        requests.append(update_cells(tab.index_sheet_id, start + 1, [_index_row(r) for r in run]))
    if appends:
        requests.append(
            update_cells(
                tab.sheet_id, first_append + DATA_HEADER_ROWS, [_data_row(r, width) for r in appends]
            )
        )
        requests.append(update_cells(tab.index_sheet_id, first_append + 1, [_index_row(r) for r in appends]))

    after = replace(
        tab, grid_rows=final_grid_rows, index_grid_rows=len(keys) + 1, index_grid_columns=index_columns
    ).with_rows(keys, versions)
    outcome = StreamOutcome(
        inserted=counts[Change.INSERT],
        updated=counts[Change.UPDATE],
        skipped_stale=counts[Change.STALE] + changes.superseded,
        deleted=counts[Change.DELETE],
    )
    return requests, after, outcome


def _create_tabs(tab: TabState) -> list[Request]:
    """Both tabs of a new stream in one go: the visible one with a frozen header, the hidden one."""
    width = max(1, len(tab.columns))
    data_tab = {
        "sheetId": tab.sheet_id,
        "title": tab.stream,
        "gridProperties": {
            "rowCount": DATA_HEADER_ROWS + 1,
            "columnCount": width,
            "frozenRowCount": DATA_HEADER_ROWS,
        },
    }
    index_tab = {
        "sheetId": tab.index_sheet_id,
        "title": index_title(tab.stream),
        "hidden": True,
        "gridProperties": {"rowCount": 1, "columnCount": INDEX_COLUMNS},
    }
    key_fields = json.dumps(tab.key_fields, separators=(",", ":"))
    return [
        encode_request({"addSheet": {"properties": data_tab}}),
        encode_request({"addSheet": {"properties": index_tab}}),
        update_cells(tab.sheet_id, 0, [header_row(tab.columns)]),
        update_cells(tab.index_sheet_id, 0, [header_row([key_fields, tab.ordering_field, VERSION_DIGEST])]),
    ]


def _index_row(row: PendingRow) -> str:
    cells = [text_cell(row.key), ordering_cell(row.ordering), text_cell(row.version.digest)]
    return '{"values":[' + ",".join(cells) + "]}"


def _data_row(row: PendingRow, width: int) -> str:
    """The row's cells, padded with empty cells to ``width`` (a schemaless stream grew columns)."""
    padding = ("," + EMPTY_CELL) * (width - row.width)
    return '{"values":[' + (row.cells or "") + padding + "]}"


def delete_rows(sheet_id: int, start: int, end: int) -> Request:
    return encode_request(
        {
            "deleteDimension": {
                "range": {"sheetId": sheet_id, "dimension": "ROWS", "startIndex": start, "endIndex": end}
            }
        }
    )


def runs_bottom_up(positions: set[int]) -> Iterator[tuple[int, int]]:
    """Contiguous ``[start, end)`` runs of ``positions``, lowest run last (so indices stay valid)."""
    ordered = sorted(positions, reverse=True)
    end = start = ordered[0]
    for position in ordered[1:]:
        if position == start - 1:
            start = position
            continue
        yield start, end + 1
        end = start = position
    yield start, end + 1
