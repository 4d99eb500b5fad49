"""A1 notation (``'My tab'!A2:C``) parsed into zero-based, half-open grid bounds.

The Sheets API accepts a sheet title alone (``Sheet1``), whole columns (``A:C``), whole rows
(``1:1``), open-ended ranges (``A2:C``) and single cells (``B7``). A title with spaces or quotes is
wrapped in single quotes, with embedded quotes doubled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sync_platform.sheets_emulator.errors import SheetsApiError

_CELL = re.compile(r"^(?P<col>[A-Za-z]*)(?P<row>[0-9]*)$")


@dataclass(frozen=True)
class A1Range:
    """Bounds of a range; ``None`` for an end means "to the edge of the grid"."""

    sheet: str | None
    start_row: int = 0
    start_col: int = 0
    end_row: int | None = None
    end_col: int | None = None


def column_index(letters: str) -> int:
    """``A`` -> 0, ``Z`` -> 25, ``AA`` -> 26."""
    index = 0
    for char in letters.upper():
        index = index * 26 + (ord(char) - ord("A") + 1)
    return index - 1


def column_letters(index: int) -> str:
    """0 -> ``A``, 26 -> ``AA``."""
    letters = ""
    index += 1
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


def quote_title(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def format_range(title: str, start_row: int, start_col: int, end_row: int, end_col: int) -> str:
    """The A1 string of a half-open zero-based block, as the API echoes it back."""
    first = f"{column_letters(start_col)}{start_row + 1}"
    last = f"{column_letters(max(start_col, end_col - 1))}{max(start_row, end_row - 1) + 1}"
    return f"{quote_title(title)}!{first}:{last}"


def _split_sheet(text: str) -> tuple[str | None, str]:
    if text.startswith("'"):
        end = 1
        title = ""
        while end < len(text):
            if text[end] == "'":
                if end + 1 < len(text) and text[end + 1] == "'":
                    title += "'"
                    end += 2
                    continue
                rest = text[end + 1 :]
                if rest and not rest.startswith("!"):
                    break
                return title, rest[1:] if rest else ""
            title += text[end]
            end += 1
        raise SheetsApiError(400, f"Unable to parse range: {text}")
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


def parse_a1(text: str, known_titles: set[str] | frozenset[str] = frozenset()) -> A1Range:
    """Parse ``text``; a bare word that names a known sheet is that whole sheet, not a cell."""
    sheet, cells = _split_sheet(text.strip())
    if sheet is None and cells in known_titles:
        return A1Range(sheet=cells)
    if not cells:
        return A1Range(sheet=sheet)
    first, _, last = cells.partition(":")
    start = _CELL.match(first)
    end = _CELL.match(last) if last else start
    if start is None or end is None or not (first and (last or not cells.endswith(":"))):
        raise SheetsApiError(400, f"Unable to parse range: {text}")
    start_col = column_index(start["col"]) if start["col"] else 0
    start_row = int(start["row"]) - 1 if start["row"] else 0
    if not last:  # one cell, or a whole row/column written alone ("B", "3")
        end_col = start_col + 1 if start["col"] else None
        end_row = start_row + 1 if start["row"] else None
        return A1Range(sheet, start_row, start_col, end_row, end_col)
    end_col = column_index(end["col"]) + 1 if end["col"] else None
    end_row = int(end["row"]) if end["row"] else None
    if start_row < 0 or (end_row is not None and end_row <= start_row and start["row"]):
        raise SheetsApiError(400, f"Unable to parse range: {text}")
    return A1Range(sheet, start_row, start_col, end_row, end_col)
