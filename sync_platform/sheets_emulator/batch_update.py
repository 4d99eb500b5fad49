"""``spreadsheets.batchUpdate``: the structural and cell requests the emulator understands.

Each request is applied in order to one ``Edit``; the first invalid request fails the whole batch
with a 400 that names it (``Invalid requests[2].deleteDimension: ...``) and nothing is applied, as
in the real API. The rules Google enforces and a client must respect are enforced here too: unique
titles, at least one visible sheet, fewer frozen rows than rows, never deleting every non-frozen
row, writes inside the grid, 50,000 characters per cell, 10,000,000 cells per workbook.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sync_platform.sheets_emulator.cells import parse_extended
from sync_platform.sheets_emulator.errors import SheetsApiError, invalid_request
from sync_platform.sheets_emulator.model import DEFAULT_COLUMNS, DEFAULT_ROWS, Edit, Sheet

Reply = dict[str, Any]
Handler = Callable[[Edit, dict[str, Any], int], Reply]


def apply_batch_update(edit: Edit, requests: list[dict[str, Any]]) -> list[Reply]:
    """Apply every request to ``edit`` (not yet committed) and return one reply per request."""
    if not isinstance(requests, list) or not requests:
        raise SheetsApiError(400, "Invalid requests: must specify at least one request.")
    replies: list[Reply] = []
    for index, request in enumerate(requests):
        if not isinstance(request, dict) or len(request) != 1:
            raise SheetsApiError(400, f"Invalid requests[{index}]: exactly one request kind is required.")
        kind, body = next(iter(request.items()))
        handler = _HANDLERS.get(kind)
        if handler is None:
            raise SheetsApiError(
                400,
                f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{index}]': "
                "Cannot find field.",
            )
        try:
            replies.append(handler(edit, body, index))
        except SheetsApiError as error:
            if str(error).startswith("Invalid requests["):
                raise
            raise invalid_request(index, kind, str(error)) from None
    return replies


def _title_taken(edit: Edit, title: str, except_id: int | None = None) -> bool:
    folded = title.casefold()
    return any(s.title.casefold() == folded and s.sheet_id != except_id for s in edit.sheets)


def _check_frozen(sheet: Sheet) -> None:
    if sheet.frozen_row_count and sheet.frozen_row_count >= sheet.row_count:
        raise SheetsApiError(400, "You can't freeze all visible rows on the sheet.")


def _check_visible(edit: Edit) -> None:
    if edit.sheets and all(sheet.hidden for sheet in edit.sheets):
        raise SheetsApiError(400, "You can't hide all the sheets in a document.")


def _add_sheet(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    properties = body.get("properties") or {}
    sheet_id = properties.get("sheetId")
    if sheet_id is None:
        sheet_id = edit.spreadsheet.new_sheet_id()
        while edit.find(sheet_id) is not None:
            sheet_id = edit.spreadsheet.new_sheet_id()
    elif edit.find(sheet_id) is not None:
        raise SheetsApiError(400, f"A sheet with the id {sheet_id} already exists.")
    title = properties.get("title") or _default_title(edit)
    if _title_taken(edit, title):
        raise SheetsApiError(
            400, f'A sheet with the name "{title}" already exists. Please enter another name.'
        )
    grid = properties.get("gridProperties") or {}
    sheet = Sheet(
        sheet_id=sheet_id,
        title=title,
        index=0,
        row_count=int(grid.get("rowCount", DEFAULT_ROWS)),
        column_count=int(grid.get("columnCount", DEFAULT_COLUMNS)),
        frozen_row_count=int(grid.get("frozenRowCount", 0)),
        hidden=bool(properties.get("hidden", False)),
    )
    if sheet.row_count < 1 or sheet.column_count < 1:
        raise SheetsApiError(400, "A sheet must have at least one row and one column.")
    _check_frozen(sheet)
    edit.add(sheet, properties.get("index"))
    _check_visible(edit)
    return {"addSheet": {"properties": sheet.properties()}}


def _default_title(edit: Edit) -> str:
    number = len(edit.sheets) + 1
    while _title_taken(edit, f"Sheet{number}"):
        number += 1
    return f"Sheet{number}"


def _delete_sheet(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    sheet_id = body.get("sheetId")
    sheet = edit.find(sheet_id) if isinstance(sheet_id, int) else None
    if sheet is None:
        raise SheetsApiError(400, f"No sheet with id: {sheet_id}")
    edit.remove(sheet.sheet_id)
    if not edit.sheets or all(s.hidden for s in edit.sheets):
        raise SheetsApiError(400, "You can't remove all the visible sheets in a document.")
    return {}


def _field_paths(fields: str | None) -> set[str]:
    if not fields:
        raise SheetsApiError(400, "'fields' is required; use '*' to update every field.")
    return {path.strip() for path in fields.split(",") if path.strip()}


def _selected(paths: set[str], name: str) -> bool:
    return "*" in paths or name in paths or any(name.startswith(path + ".") for path in paths)


def _update_sheet_properties(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    properties = body.get("properties") or {}
    paths = _field_paths(body.get("fields"))
    sheet = edit.writable(properties.get("sheetId", 0), "updateSheetProperties")
    grid = properties.get("gridProperties") or {}
    if _selected(paths, "title") and properties.get("title"):
        if _title_taken(edit, properties["title"], except_id=sheet.sheet_id):
            raise SheetsApiError(400, f'A sheet with the name "{properties["title"]}" already exists.')
        sheet.title = properties["title"]
    if _selected(paths, "hidden"):
        sheet.hidden = bool(properties.get("hidden", False))
        _check_visible(edit)
    if _selected(paths, "gridProperties.frozenRowCount"):
        sheet.frozen_row_count = int(grid.get("frozenRowCount", 0))
    rows = int(grid["rowCount"]) if _selected(paths, "gridProperties.rowCount") else None
    columns = int(grid["columnCount"]) if _selected(paths, "gridProperties.columnCount") else None
    if (rows is not None and rows < 1) or (columns is not None and columns < 1):
        raise SheetsApiError(400, "A sheet must have at least one row and one column.")
    sheet.resize(rows, columns)
    _check_frozen(sheet)
    if _selected(paths, "index") and "index" in properties:
        edit.remove(sheet.sheet_id)
        edit.add(sheet, int(properties["index"]))
    return {}


def _update_spreadsheet_properties(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    paths = _field_paths(body.get("fields"))
    properties = body.get("properties") or {}
    if _selected(paths, "title") and properties.get("title"):
        edit.title = str(properties["title"])
    return {}


def _append_dimension(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    sheet = edit.writable(body.get("sheetId", 0), "appendDimension")
    length = int(body.get("length", 0))
    if length < 1:
        raise SheetsApiError(400, "length must be at least 1.")
    if body.get("dimension") == "COLUMNS":
        sheet.column_count += length
    else:
        sheet.row_count += length
    return {}


def _dimension_range(edit: Edit, body: dict[str, Any], where: str) -> tuple[Sheet, bool, int, int]:
    span = body.get("range") or {}
    sheet = edit.writable(span.get("sheetId", 0), where)
    rows = span.get("dimension", "ROWS") == "ROWS"
    size = sheet.row_count if rows else sheet.column_count
    start, end = int(span.get("startIndex", 0)), int(span.get("endIndex", size))
    if not 0 <= start < end:
        raise SheetsApiError(400, f"Invalid dimension range [{start}, {end}).")
    return sheet, rows, start, end


def _delete_dimension(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    sheet, rows, start, end = _dimension_range(edit, body, "deleteDimension")
    size = sheet.row_count if rows else sheet.column_count
    if end > size:
        raise SheetsApiError(400, f"Cannot delete a {'row' if rows else 'column'} that doesn't exist.")
    if rows:
        if sheet.row_count - (end - start) <= sheet.frozen_row_count:
            raise SheetsApiError(400, "Sorry, it is not possible to delete all non-frozen rows.")
        sheet.delete_rows(start, end)
    else:
        if sheet.column_count - (end - start) < 1:
            raise SheetsApiError(400, "Sorry, it is not possible to delete all non-frozen columns.")
        sheet.delete_columns(start, end)
    return {}


def _insert_dimension(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    sheet, rows, start, end = _dimension_range(edit, body, "insertDimension")
    if start > (sheet.row_count if rows else sheet.column_count):
        raise SheetsApiError(400, "Cannot insert beyond the end of the grid.")
    if rows:
        sheet.insert_rows(start, end - start)
    else:
        sheet.insert_columns(start, end - start)
    return {}


def _write_rows(sheet: Sheet, rows: list[Any], top: int, left: int, where: str) -> int:
    """Write ``rows`` (RowData) with their top-left corner at (top, left); returns the bottom row."""
    for offset, row in enumerate(rows):
        values = (row or {}).get("values") or []
        row_index = top + offset
        if values and row_index >= sheet.row_count:
            raise SheetsApiError(
                400, f"GridCoordinate.rowIndex[{row_index}] is after last row in grid[{sheet.row_count - 1}]"
            )
        if left + len(values) > sheet.column_count:
            raise SheetsApiError(
                400,
                f"GridCoordinate.columnIndex[{left + len(values) - 1}] is after last column in "
                f"grid[{sheet.column_count - 1}]",
            )
        where_row = f"{where}.rows[{offset}]"
        sheet.put_row(
            row_index,
            left,
            [parse_extended((cell or {}).get("userEnteredValue"), where_row) for cell in values],
        )
    return top + len(rows)


def _update_cells(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    paths = _field_paths(body.get("fields"))
    rows = body.get("rows") or []
    if "range" in body:
        span = body["range"]
        sheet = edit.writable(span.get("sheetId", 0), "updateCells")
        top, left = int(span.get("startRowIndex", 0)), int(span.get("startColumnIndex", 0))
        bottom = int(span.get("endRowIndex", sheet.row_count))
        right = int(span.get("endColumnIndex", sheet.column_count))
        if bottom > sheet.row_count or right > sheet.column_count:
            raise SheetsApiError(400, "Range exceeds grid limits.")
        if _selected(paths, "userEnteredValue"):  # cells of the range not given in rows are cleared
            for row in range(top, bottom):
                for column in range(left, right):
                    sheet.put(row, column, None)
    else:
        start = body.get("start") or {}
        sheet = edit.writable(start.get("sheetId", 0), "updateCells")
        top, left = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
    if _selected(paths, "userEnteredValue"):
        _write_rows(sheet, rows, top, left, "updateCells")
    return {}


def _append_cells(edit: Edit, body: dict[str, Any], index: int) -> Reply:
    sheet = edit.writable(body.get("sheetId", 0), "appendCells")
    rows = body.get("rows") or []
    top = sheet.last_row_with_data() + 1
    if top + len(rows) > sheet.row_count:
        sheet.row_count = top + len(rows)
    if _selected(_field_paths(body.get("fields")), "userEnteredValue"):
        _write_rows(sheet, rows, top, 0, "appendCells")
    return {}


_HANDLERS: dict[str, Handler] = {
    "addSheet": _add_sheet,
    "deleteSheet": _delete_sheet,
    "updateSheetProperties": _update_sheet_properties,
    "updateSpreadsheetProperties": _update_spreadsheet_properties,
    "appendDimension": _append_dimension,
    "insertDimension": _insert_dimension,
    "deleteDimension": _delete_dimension,
    "updateCells": _update_cells,
    "appendCells": _append_cells,
}

SUPPORTED_REQUESTS = frozenset(_HANDLERS)
