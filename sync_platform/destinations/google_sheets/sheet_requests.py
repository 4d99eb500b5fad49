"""The ``batchUpdate`` requests a flush is made of, as JSON text, and the request body.

Rows arrive already encoded (``RowData`` JSON text), so a request is assembled by joining strings
rather than by building and re-encoding nested dicts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
Request = str
"""One request of a ``batchUpdate`` body, as JSON text."""


def encode_request(request: dict[str, Any]) -> Request:
    return json.dumps(request, separators=(",", ":"), ensure_ascii=False)


def batch_update_body(requests: list[Request]) -> bytes:
    """The ``spreadsheets.batchUpdate`` request body for ``requests``."""
    return ('{"requests":[' + ",".join(requests) + "]}").encode()


def update_cells(sheet_id: int, row_index: int, rows: list[str]) -> Request:
    """Overwrite the values of whole rows starting at ``row_index`` (``{}`` cells clear)."""
    return (
        f'{{"updateCells":{{"start":{{"sheetId":{sheet_id},"rowIndex":{row_index},"columnIndex":0}},'
        f'"rows":[{",".join(rows)}],"fields":"userEnteredValue"}}}}'
    )


def set_grid(sheet_id: int, *, rows: int | None = None, columns: int | None = None) -> Request:
    """Set a tab's grid to exactly ``rows`` rows and/or ``columns`` columns."""
    grid: dict[str, int] = {}
    fields = []
    if rows is not None:
        grid["rowCount"] = rows
        fields.append("gridProperties.rowCount")
    if columns is not None:
        grid["columnCount"] = columns
        fields.append("gridProperties.columnCount")
    return encode_request(
        {
            "updateSheetProperties": {
                "properties": {"sheetId": sheet_id, "gridProperties": grid},
                "fields": ",".join(fields),
            }
        }
    )


def add_hidden_tab(sheet_id: int, title: str, rows: int, columns: int) -> Request:
    properties = {
        "sheetId": sheet_id,
        "title": title,
        "hidden": True,
        "gridProperties": {"rowCount": rows, "columnCount": columns},
    }
    return encode_request({"addSheet": {"properties": properties}})


def runs(placed: Iterable[tuple[int, T]]) -> Iterator[tuple[int, list[T]]]:
    """Items at sorted positions grouped into runs of consecutive positions: one ``updateCells`` each."""
    run: list[T] = []
    start = previous = -2
    for position, item in placed:
        if position != previous + 1 and run:
            yield start, run
            run = []
        if not run:
            start = position
        run.append(item)
        previous = position
    if run:
        yield start, run
