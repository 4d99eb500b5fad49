"""``spreadsheets.values.*``: reading and writing cell values through A1 ranges.

Reads clip to the grid and trim trailing empty cells and rows, as Google does. Writes through the
values API grow the grid when they run past it (unlike ``updateCells``, which refuses), and parse
input according to ``valueInputOption`` (see ``cells``).
"""

from __future__ import annotations

from typing import Any, cast

from sync_platform.sheets_emulator.a1 import A1Range, format_range, parse_a1
from sync_platform.sheets_emulator.cells import RenderOption, ValueInputOption, parse_input, render
from sync_platform.sheets_emulator.errors import SheetsApiError
from sync_platform.sheets_emulator.model import Edit, Sheet, Spreadsheet

_RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")


def _resolve(sheets: list[Sheet], text: str) -> tuple[Sheet, A1Range]:
    titles = {sheet.title for sheet in sheets}
    span = parse_a1(text, titles)
    if span.sheet is None:
        if not sheets:
            raise SheetsApiError(400, f"Unable to parse range: {text}")
        return sheets[0], span
    sheet = next((s for s in sheets if s.title == span.sheet), None)
    if sheet is None:
        raise SheetsApiError(400, f"Unable to parse range: {text}")
    return sheet, span


def render_option(value: str | None) -> RenderOption:
    option = value or "FORMATTED_VALUE"
    if option not in _RENDER_OPTIONS:
        raise SheetsApiError(400, f"Invalid valueRenderOption: {option}")
    return cast(RenderOption, option)


def input_option(value: str | None) -> ValueInputOption:
    if value not in ("RAW", "USER_ENTERED"):
        raise SheetsApiError(400, "'valueInputOption' is required and must be RAW or USER_ENTERED.")
    return cast(ValueInputOption, value)


def _trim(rows: list[list[Any]]) -> list[list[Any]]:
    trimmed = []
    for row in rows:
        end = len(row)
        while end and row[end - 1] == "":
            end -= 1
        trimmed.append(row[:end])
    while trimmed and not trimmed[-1]:
        trimmed.pop()
    return trimmed


def read_range(
    spreadsheet: Spreadsheet, text: str, option: RenderOption, major_dimension: str = "ROWS"
) -> dict[str, Any]:
    sheet, span = _resolve(spreadsheet.sheets, text)
    bottom = min(span.end_row if span.end_row is not None else sheet.row_count, sheet.row_count)
    right = min(span.end_col if span.end_col is not None else sheet.column_count, sheet.column_count)
    top, left = min(span.start_row, bottom), min(span.start_col, right)
    # Only rows that hold cells need rendering; rows past the stored ones are empty.
    stored_bottom = min(bottom, len(sheet.rows))
    rows = [
        [render(cell, option) for cell in cells]
        for cells in sheet.block(top, max(top, stored_bottom), left, right)
    ]
    values = _trim(rows)
    if major_dimension == "COLUMNS":
        width = max((len(row) for row in values), default=0)
        values = _trim([[row[c] if c < len(row) else "" for row in values] for c in range(width)])
    result: dict[str, Any] = {
        "range": format_range(sheet.title, top, left, bottom, right),
        "majorDimension": major_dimension,
    }
    if values:
        result["values"] = values
    return result


def write_range(
    edit: Edit, text: str, values: list[list[Any]], option: ValueInputOption, major_dimension: str = "ROWS"
) -> dict[str, Any]:
    """Write ``values`` at the range's top-left corner, growing the grid if they run past it."""
    sheet, span = _resolve(edit.sheets, text)
    sheet = edit.writable(sheet.sheet_id, "range")
    if major_dimension == "COLUMNS":
        width = max((len(column) for column in values), default=0)
        values = [[column[r] if r < len(column) else None for column in values] for r in range(width)]
    height = len(values)
    width = max((len(row) for row in values), default=0)
    if ":" not in text.rpartition("!")[2]:  # a single cell is an anchor: the values extend from it
        span = A1Range(span.sheet, span.start_row, span.start_col)
    if span.end_row is not None and span.start_row + height > span.end_row:
        raise SheetsApiError(
            400,
            f"Requested writing within range [{text}], but tried writing to row [{span.start_row + height}]",
        )
    if span.end_col is not None and span.start_col + width > span.end_col:
        raise SheetsApiError(
            400,
            f"Requested writing within range [{text}], but tried writing to column "
            f"[{span.start_col + width}]",
        )
    sheet.row_count = max(sheet.row_count, span.start_row + height)
    sheet.column_count = max(sheet.column_count, span.start_col + width)
    for offset, row in enumerate(values):
        parsed = [parse_input(value, option) for value in row]
        sheet.put_row(span.start_row + offset, span.start_col, parsed)
    return {
        "spreadsheetId": edit.spreadsheet.spreadsheet_id,
        "updatedRange": format_range(
            sheet.title, span.start_row, span.start_col, span.start_row + height, span.start_col + width
        ),
        "updatedRows": height,
        "updatedColumns": width,
        "updatedCells": sum(len(row) for row in values),
    }


def append_range(edit: Edit, text: str, values: list[list[Any]], option: ValueInputOption) -> dict[str, Any]:
    """Append after the last row holding data, as ``values.append`` finds the end of the table."""
    sheet, span = _resolve(edit.sheets, text)
    top = sheet.last_row_with_data() + 1
    target = format_range(sheet.title, top, span.start_col, top + 1, span.start_col + 1).split(":")[0]
    updates = write_range(edit, target, values, option)
    return {
        "spreadsheetId": edit.spreadsheet.spreadsheet_id,
        "tableRange": format_range(sheet.title, 0, span.start_col, max(top, 1), span.start_col + 1),
        "updates": updates,
    }


def clear_range(edit: Edit, text: str) -> dict[str, Any]:
    sheet, span = _resolve(edit.sheets, text)
    sheet = edit.writable(sheet.sheet_id, "range")
    bottom = min(span.end_row if span.end_row is not None else sheet.row_count, sheet.row_count)
    right = min(span.end_col if span.end_col is not None else sheet.column_count, sheet.column_count)
    for row in range(span.start_row, min(bottom, len(sheet.rows))):
        for column in range(span.start_col, right):
            sheet.put(row, column, None)
    return {
        "spreadsheetId": edit.spreadsheet.spreadsheet_id,
        "clearedRange": format_range(sheet.title, span.start_row, span.start_col, bottom, right),
    }
