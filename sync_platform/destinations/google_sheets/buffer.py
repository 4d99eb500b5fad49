"""Records waiting for the next flush: the newest version of each row key, already converted to cells.

Versions of one key that arrive within a flush are resolved here by the destination kit's version
order (the one the flush then applies against the sheet), so a flush never writes a row twice. The
buffer knows how many cells and bytes it holds, which is what decides when to flush: large enough
to keep requests few, small enough for Google's request-size advice.
"""

from __future__ import annotations

from typing import Any

from sync_platform.destinations.google_sheets.errors import SheetsDestinationError
from sync_platform.destinations.google_sheets.layout import (
    CellWriter,
    Converter,
    row_key,
)
from sync_platform.destinations.google_sheets.plan import PendingRow, StreamChanges
from sync_platform.destinations.google_sheets.tabs import TabState
from sync_platform.engine.destination_kit import Version, is_tombstone, version_of
from sync_platform.errors import FailureKind
from sync_platform.protocol import RecordPayload, Stream


class RecordError(SheetsDestinationError, ValueError):
    """A record that cannot be placed in a sheet (no primary key, no ordering value): the fix
    belongs in the source, and the same record fails the same way again."""

    failure_kind = FailureKind.INVALID_REQUEST


class StreamRows:
    """Turns one stream's records into rows for its tab's current columns."""

    def __init__(self, stream: Stream, tab: TabState) -> None:
        self.stream = stream
        # Shared with the tab on purpose: a schemaless stream's new columns, appended here, are what
        # the next flush writes into the header.
        self.columns = tab.columns
        self.cell_writer = CellWriter()
        self.converters: list[Converter] = self.cell_writer.converters(self.columns, stream)
        self.key_fields = [path[0] for path in stream.primary_key if path]
        self.ordering_field = stream.newer_than_field
        self.schemaless = not ((stream.json_schema or {}).get("properties"))

    def key_of(self, data: dict[str, Any]) -> str:
        values = [data.get(name) for name in self.key_fields]
        for name, value in zip(self.key_fields, values, strict=True):
            if value is None or value == "":
                raise RecordError(
                    f"A record of stream {self.stream.name!r} has no value for primary-key field {name!r}; "
                    "rows are upserted by key, so every record must carry its whole key."
                )
        return row_key(values)

    def version_of(self, record: RecordPayload, key: str) -> Version:
        version = version_of(record, self.ordering_field)
        if version is None:
            raise RecordError(
                f"Record {key} of stream {self.stream.name!r} has no usable {self.ordering_field!r} (unix "
                "seconds or ISO-8601 text); the source must stamp it on every record (it decides which "
                "version of a row is newer)."
            )
        return version

    def cells(self, data: dict[str, Any]) -> str:
        """The record's cells for the current columns, as comma-joined JSON ``CellData``."""
        if self.schemaless:
            self._extend_columns(data)
        return ",".join(
            [convert(data.get(column)) for convert, column in zip(self.converters, self.columns, strict=True)]
        )

    def _extend_columns(self, data: dict[str, Any]) -> None:
        """A stream without a schema gains a column for each new field, appended at the end."""
        known = set(self.columns)
        new = [name for name in data if name not in known]
        if new:
            self.columns.extend(new)
            self.converters.extend([self.cell_writer.cell] * len(new))


class FlushBuffer:
    def __init__(self) -> None:
        self.changes: dict[str, StreamChanges] = {}
        self.cells = 0
        self.bytes = 0
        self._sizes: dict[tuple[str, str], tuple[int, int]] = {}

    def __bool__(self) -> bool:
        return bool(self.changes)

    def add(self, rows: StreamRows, record: RecordPayload) -> None:
        """Buffer ``record`` unless a newer version of its key is already buffered."""
        data = record.data
        key = rows.key_of(data)
        version = rows.version_of(record, key)
        changes = self.changes.setdefault(rows.stream.name, StreamChanges())
        pending = changes.rows.get(key)
        if pending is not None:
            changes.superseded += 1
            if not version > pending.version:
                return
        cells = None if is_tombstone(record) else rows.cells(data)
        width = len(rows.columns)
        changes.rows[key] = PendingRow(key, data.get(rows.ordering_field), version, cells, width)
        size = (width, len(cells)) if cells is not None else (0, 0)
        old_cells, old_bytes = self._sizes.get((rows.stream.name, key), (0, 0))
        self._sizes[(rows.stream.name, key)] = size
        self.cells += size[0] - old_cells
        self.bytes += size[1] - old_bytes

    def drop(self, stream: str) -> None:
        """Forget a failed stream's buffered rows."""
        if self.changes.pop(stream, None) is not None:
            for key in [k for k in self._sizes if k[0] == stream]:
                cells, size = self._sizes.pop(key)
                self.cells -= cells
                self.bytes -= size

    def take(self) -> dict[str, StreamChanges]:
        """Everything buffered, leaving the buffer empty."""
        taken, self.changes, self._sizes = self.changes, {}, {}
        self.cells = self.bytes = 0
        return taken
