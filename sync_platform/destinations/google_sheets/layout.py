"""How a stream looks in a spreadsheet: tab names, column order, row keys, and cell values.

Columns: primary key fields first, then the ordering field (``_updated_at``), then every other
schema property in schema order. A tab that already exists keeps its column order and gains new
columns at the end (never reordered, so a re-run of setup cannot misalign data: reference bug 26).

Cells are written as typed ``userEnteredValue``s. Text always goes in as ``stringValue``, which
Sheets stores verbatim and never parses, so a customer-controlled ``=HYPERLINK(...)`` stays text
(formula injection); no ``'`` prefix is added, since that would be stored as part of the value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

from sync_platform.protocol import Stream

INDEX_TAB_PREFIX: Final = "_sync_platform_index."
TOMBSTONES_TAB: Final = "_sync_platform_tombstones"
"""The hidden tab remembering deleted rows of every stream (``tombstones.py``)."""
MAX_CELL_CHARACTERS: Final = 50_000
TRUNCATION_MARKER: Final = " …[truncated by sync_platform]"
MAX_EXACT_INTEGER: Final = 2**53  # Sheets stores numbers as doubles: larger integers go in as text

# Cells are encoded straight to their JSON text (``CellData`` with a ``userEnteredValue``): a
# buffered row is then a single string, which costs far less memory and garbage-collector time
# than nested dicts, and its size in the request is known exactly.
CellJson = str
Converter = Callable[[Any], CellJson]
_encode_string: Callable[[str], str] = json.encoder.encode_basestring  # the C-accelerated encoder
_STRING: Final = '{"userEnteredValue":{"stringValue":'
_NUMBER: Final = '{"userEnteredValue":{"numberValue":'
EMPTY_CELL: Final = "{}"
TRUE_CELL: Final = '{"userEnteredValue":{"boolValue":true}}'
FALSE_CELL: Final = '{"userEnteredValue":{"boolValue":false}}'


def index_title(stream: str) -> str:
    """The hidden bookkeeping tab of ``stream``."""
    return INDEX_TAB_PREFIX + stream


def quote_title(title: str) -> str:
    """A tab title as A1 notation wants it in a range (``'it''s'!A1``)."""
    return "'" + title.replace("'", "''") + "'"


def stream_of_index(title: str) -> str | None:
    return title[len(INDEX_TAB_PREFIX) :] if title.startswith(INDEX_TAB_PREFIX) else None


def key_fields(stream: Stream) -> list[str]:
    return [".".join(path) for path in stream.primary_key if path]


def schema_columns(stream: Stream) -> list[str]:
    """The columns a new tab gets: key fields, the ordering field, then schema order."""
    properties = list(((stream.json_schema or {}).get("properties") or {}).keys())
    first = [*key_fields(stream), stream.newer_than_field]
    ordered = list(dict.fromkeys(first))
    return ordered + [name for name in properties if name not in ordered]


def merge_columns(existing: list[str], wanted: list[str]) -> list[str]:
    """``existing`` unchanged, plus every wanted column it lacks, appended in ``wanted`` order."""
    have = set(existing)
    return existing + [name for name in wanted if name not in have]


def row_key(values: list[Any]) -> str:
    """The bookkeeping key of a row: the JSON array of its primary-key values."""
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def text_cell(text: str) -> CellJson:
    """A cell holding ``text`` verbatim (callers keep it under the cell limit)."""
    return _STRING + _encode_string(text) + "}}"


def row_json(cells: list[CellJson]) -> str:
    """A ``RowData`` of the given cells, as JSON text."""
    return '{"values":[' + ",".join(cells) + "]}"


class CellWriter:
    """Converts record values to cells per the JSON-schema conventions, counting truncations."""

    def __init__(self) -> None:
        self.truncated = 0

    def fit(self, text: str) -> str:
        """``text`` cut to Sheets' 50,000-character cell limit, with a visible marker when cut."""
        if len(text) <= MAX_CELL_CHARACTERS:
            return text
        self.truncated += 1
        return text[: MAX_CELL_CHARACTERS - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER

    def text(self, text: str) -> CellJson:
        if len(text) > MAX_CELL_CHARACTERS:
            text = self.fit(text)
        return _STRING + _encode_string(text) + "}}"

    def cell(self, value: Any) -> CellJson:
        """Any JSON value as a cell: text stays text, numbers and booleans keep their type."""
        if value is None:
            return EMPTY_CELL
        kind = type(value)
        if kind is str:
            return self.text(value)
        if kind is bool:
            return TRUE_CELL if value else FALSE_CELL
        if kind is int:
            if -MAX_EXACT_INTEGER <= value <= MAX_EXACT_INTEGER:
                return _NUMBER + str(value) + "}}"
            return self.text(str(value))
        if kind is float:
            return _NUMBER + repr(value) + "}}" if math.isfinite(value) else self.text(str(value))
        if isinstance(value, dict | list):
            return self.text(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        return self.text(str(value))

    def unix_time(self, value: Any) -> CellJson:
        """Unix seconds as ISO-8601 UTC text (``2024-01-01T00:00:00Z``)."""
        if type(value) is int or (type(value) is float and math.isfinite(value)):
            try:
                moment = datetime.fromtimestamp(value, UTC)
            except (OverflowError, OSError, ValueError):
                return self.cell(value)
            return self.text(moment.isoformat().replace("+00:00", "Z"))
        return self.cell(value)

    def reference(self, value: Any) -> CellJson:
        """An expandable reference: the id, whether Stripe sent the id or the expanded object."""
        if isinstance(value, dict) and isinstance(value.get("id"), str):
            return self.text(value["id"])
        return self.cell(value)

    def converters(self, columns: list[str], stream: Stream) -> list[Converter]:
        """One converter per column, chosen from the column's schema annotations."""
        properties = (stream.json_schema or {}).get("properties") or {}
        converters: list[Converter] = []
        for column in columns:
            schema = properties.get(column) or {}
            if schema.get("format") == "unix-time":
                converters.append(self.unix_time)
            elif schema.get("x-expandable-reference"):
                converters.append(self.reference)
            else:
                converters.append(self.cell)
        return converters


def header_row(columns: list[str]) -> str:
    return row_json([text_cell(name) for name in columns])


def ordering_cell(value: Any) -> CellJson:
    """The ``_updated_at`` kept in a bookkeeping tab, as received (numbers stay numbers), so the
    destination kit reads the same time back."""
    if value is None:
        return EMPTY_CELL
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return _NUMBER + repr(value) + "}}"
    return text_cell(str(value))
