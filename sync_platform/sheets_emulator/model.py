"""The emulator's in-memory spreadsheets: sheets with grid sizes, frozen rows, visibility and cells.

Cells are stored sparsely (only rows up to the last one written), so a tab with a 9-million-row
empty grid costs nothing, while the 10,000,000-cell limit still counts the whole grid, as Google
does. Changes go through an ``Edit``, which clones a sheet on first write and is committed only if
every request succeeded: a ``batchUpdate`` is all-or-nothing, as in the real API. Rows are
immutable tuples (a write replaces the row), so a clone only copies the list of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sync_platform.sheets_emulator.cells import Cell
from sync_platform.sheets_emulator.errors import SheetsApiError

DEFAULT_CELL_LIMIT = 10_000_000
DEFAULT_ROWS = 1000
DEFAULT_COLUMNS = 26


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    OWNER = "owner"


@dataclass
class Sheet:
    """One tab. ``rows`` holds cells for rows ``0..len(rows)-1``; rows past it are empty."""

    sheet_id: int
    title: str
    index: int
    row_count: int = DEFAULT_ROWS
    column_count: int = DEFAULT_COLUMNS
    frozen_row_count: int = 0
    hidden: bool = False
    rows: list[tuple[Cell | None, ...]] = field(default_factory=list)

    def clone(self) -> Sheet:
        copy = Sheet(
            self.sheet_id,
            self.title,
            self.index,
            self.row_count,
            self.column_count,
            self.frozen_row_count,
            self.hidden,
        )
        copy.rows = list(self.rows)  # rows are immutable tuples: sharing them is safe
        return copy

    @property
    def cell_count(self) -> int:
        return self.row_count * self.column_count

    def properties(self) -> dict[str, Any]:
        grid: dict[str, Any] = {"rowCount": self.row_count, "columnCount": self.column_count}
        if self.frozen_row_count:
            grid["frozenRowCount"] = self.frozen_row_count
        properties: dict[str, Any] = {
            "sheetId": self.sheet_id,
            "title": self.title,
            "index": self.index,
            "sheetType": "GRID",
            "gridProperties": grid,
        }
        if self.hidden:
            properties["hidden"] = True
        return properties

    def get(self, row: int, column: int) -> Cell | None:
        if row >= len(self.rows):
            return None
        cells = self.rows[row]
        return cells[column] if column < len(cells) else None

    def put(self, row: int, column: int, value: Cell | None) -> None:
        if value is None and self.get(row, column) is None:
            return
        self.put_row(row, column, [value])

    def put_row(self, row: int, left: int, values: list[Cell | None]) -> None:
        """Write ``values`` into one row starting at column ``left`` (``None`` clears a cell)."""
        if len(self.rows) <= row:
            self.rows.extend([()] * (row + 1 - len(self.rows)))
        cells = self.rows[row]
        if left == 0 and len(values) >= len(cells):
            self.rows[row] = tuple(values)
            return
        padded = cells + (None,) * max(0, left - len(cells))
        self.rows[row] = padded[:left] + tuple(values) + padded[left + len(values) :]

    def block(self, start_row: int, end_row: int, start_col: int, end_col: int) -> list[list[Cell | None]]:
        return [
            [self.get(row, column) for column in range(start_col, end_col)]
            for row in range(start_row, end_row)
        ]

    def last_row_with_data(self) -> int:
        """Index of the last row holding any value, or -1."""
        for row in range(len(self.rows) - 1, -1, -1):
            if any(cell is not None for cell in self.rows[row]):
                return row
        return -1

    # --- structural changes ------------------------------------------------------------------------

    def delete_rows(self, start: int, end: int) -> None:
        del self.rows[start:end]
        self.row_count -= end - start

    def insert_rows(self, start: int, count: int) -> None:
        if start < len(self.rows):
            self.rows[start:start] = [()] * count
        self.row_count += count

    def delete_columns(self, start: int, end: int) -> None:
        self.rows = [cells[:start] + cells[end:] for cells in self.rows]
        self.column_count -= end - start

    def insert_columns(self, start: int, count: int) -> None:
        self.rows = [
            cells[:start] + (None,) * count + cells[start:] if start < len(cells) else cells
            for cells in self.rows
        ]
        self.column_count += count

    def resize(self, rows: int | None = None, columns: int | None = None) -> None:
        """Set the grid size; shrinking drops the cells beyond it, as the real API does."""
        if rows is not None:
            del self.rows[rows:]
            self.row_count = rows
        if columns is not None:
            self.rows = [cells[:columns] for cells in self.rows]
            self.column_count = columns


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    title: str
    owner: str
    permissions: dict[str, Role] = field(default_factory=dict)
    sheets: list[Sheet] = field(default_factory=list)
    next_sheet_id: int = 1

    def role_of(self, identity: str) -> Role | None:
        if identity == self.owner:
            return Role.OWNER
        return self.permissions.get(identity)

    def total_cells(self) -> int:
        return sum(sheet.cell_count for sheet in self.sheets)

    def titles(self) -> set[str]:
        return {sheet.title for sheet in self.sheets}

    def by_id(self, sheet_id: int) -> Sheet | None:
        return next((sheet for sheet in self.sheets if sheet.sheet_id == sheet_id), None)

    def by_title(self, title: str) -> Sheet | None:
        return next((sheet for sheet in self.sheets if sheet.title == title), None)

    def new_sheet_id(self) -> int:
        taken = {sheet.sheet_id for sheet in self.sheets}
        while self.next_sheet_id in taken:
            self.next_sheet_id += 1
        sheet_id = self.next_sheet_id
        self.next_sheet_id += 1
        return sheet_id

    def properties(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "locale": "en_US",
            "autoRecalc": "ON_CHANGE",
            "timeZone": "Etc/GMT",
        }


class Edit:
    """A pending change to one spreadsheet: sheets are cloned on first write, committed together."""

    def __init__(self, spreadsheet: Spreadsheet, *, cell_limit: int) -> None:
        self.spreadsheet = spreadsheet
        self.cell_limit = cell_limit
        self.sheets: list[Sheet] = list(spreadsheet.sheets)
        self._cloned: set[int] = set()
        self.title = spreadsheet.title

    def titles(self) -> set[str]:
        return {sheet.title for sheet in self.sheets}

    def find(self, sheet_id: int) -> Sheet | None:
        return next((sheet for sheet in self.sheets if sheet.sheet_id == sheet_id), None)

    def find_title(self, title: str) -> Sheet | None:
        return next((sheet for sheet in self.sheets if sheet.title == title), None)

    def writable(self, sheet_id: int, where: str) -> Sheet:
        """The sheet, cloned for this edit the first time it is changed."""
        for position, sheet in enumerate(self.sheets):
            if sheet.sheet_id == sheet_id:
                if sheet_id not in self._cloned:
                    sheet = sheet.clone()
                    self.sheets[position] = sheet
                    self._cloned.add(sheet_id)
                return sheet
        raise SheetsApiError(400, f"Invalid {where}: No grid with id: {sheet_id}")

    def add(self, sheet: Sheet, index: int | None) -> None:
        position = len(self.sheets) if index is None else max(0, min(index, len(self.sheets)))
        self.sheets.insert(position, sheet)
        self._cloned.add(sheet.sheet_id)
        self.reindex()

    def remove(self, sheet_id: int) -> None:
        self.sheets = [sheet for sheet in self.sheets if sheet.sheet_id != sheet_id]
        self.reindex()

    def reindex(self) -> None:
        for position, sheet in enumerate(self.sheets):
            if sheet.index != position:
                if sheet.sheet_id not in self._cloned:
                    sheet = sheet.clone()
                    self.sheets[position] = sheet
                    self._cloned.add(sheet.sheet_id)
                sheet.index = position

    def total_cells(self) -> int:
        return sum(sheet.cell_count for sheet in self.sheets)

    def commit(self) -> None:
        """Install the change, unless it would push the workbook over the cell limit."""
        if self.total_cells() > self.cell_limit:
            raise SheetsApiError(
                400,
                "This action would increase the number of cells in the workbook above the limit of "
                f"{self.cell_limit} cells.",
            )
        self.spreadsheet.sheets = self.sheets
        self.spreadsheet.title = self.title
