"""One write (or setup, or teardown) against one spreadsheet: open it, load its bookkeeping, flush.

Opening costs one metadata read plus one read of every existing tab's header row; a stream's row
keys are read the first time a flush touches it, together with the remembered deletions (one read
per flush at most, covering every stream it loads). A flush is one ``batchUpdate``. If that request
fails ambiguously (a 5xx or a dropped connection, when Google may or may not have applied it),
``_settle`` reads the bookkeeping back and decides, so a row deletion is never replayed on rows that
have already moved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sync_platform.destinations.google_sheets.api import SheetsApi
from sync_platform.destinations.google_sheets.buffer import StreamRows
from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.connection import connect
from sync_platform.destinations.google_sheets.errors import FlushOutcomeUnknownError, TabConflictError
from sync_platform.destinations.google_sheets.layout import TOMBSTONES_TAB, index_title
from sync_platform.destinations.google_sheets.plan import CELL_LIMIT, FlushPlan, StreamChanges, plan_flush
from sync_platform.destinations.google_sheets.tabs import (
    SpreadsheetLayout,
    apply_headers,
    apply_keys,
    header_ranges,
    keys_range,
    quote_title,
    read_layout,
)
from sync_platform.destinations.google_sheets.tombstones import prune_requests
from sync_platform.engine import Clock
from sync_platform.protocol import Stream


@dataclass
class SheetsSession:
    config: GoogleSheetsDestinationConfig
    api: SheetsApi
    layout: SpreadsheetLayout
    streams: dict[str, Stream]
    conflicts: dict[str, TabConflictError] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    flushes: int = 0
    cell_limit: int = CELL_LIMIT
    _rows: dict[str, StreamRows] = field(default_factory=dict)

    @classmethod
    async def open(
        cls, config: GoogleSheetsDestinationConfig, streams: list[Stream], clock: Clock
    ) -> SheetsSession:
        """Open ``config.spreadsheet_id`` and read what the destination needs to know about it.

        A stream whose tabs conflict with the destination's layout is listed in ``conflicts``
        rather than raised, so the other streams can still be written.
        """
        assert config.spreadsheet_id is not None  # callers raise SpreadsheetMissingError first
        api = SheetsApi(connect(config).http_client, config.spreadsheet_id, config, clock)
        metadata = await api.metadata()
        layout = read_layout(config.spreadsheet_id, metadata, streams)
        conflicts = layout.conflicts
        existing = [tab for tab in layout.tabs.values() if tab.exists]
        values = await api.values([text for tab in existing for text in header_ranges(tab)])
        for position, tab in enumerate(existing):
            header, index_header = values[2 * position], values[2 * position + 1]
            try:
                layout.tabs[tab.stream] = apply_headers(tab, header, index_header)
            except TabConflictError as error:
                conflicts[tab.stream] = error
                del layout.tabs[tab.stream]
        usable = {stream.name: stream for stream in streams if stream.name in layout.tabs}
        return cls(config, api, layout, usable, conflicts, metadata)

    @property
    def spreadsheet_id(self) -> str:
        return self.layout.spreadsheet_id

    def rows_for(self, stream: str) -> StreamRows:
        rows = self._rows.get(stream)
        if rows is None:
            rows = self._rows[stream] = StreamRows(self.streams[stream], self.layout.tabs[stream])
        return rows

    async def load_keys(self, streams: Iterable[str]) -> None:
        """Read the bookkeeping of every listed stream not loaded yet, and the remembered
        deletions if they are not loaded yet either, in one request."""
        names = list(streams)
        pending = [self.layout.tabs[name] for name in names if not self.layout.tabs[name].loaded]
        tombstones = self.layout.tombstones
        ranges = [keys_range(tab) for tab in pending]
        if names and not tombstones.loaded:  # a stream new in this spreadsheet still needs them
            ranges.append(tombstones.range())
        if not ranges:
            return
        values = await self.api.values(ranges)
        for tab, rows in zip(pending, values, strict=False):
            self.layout.tabs[tab.stream] = apply_keys(tab, rows)
        if len(values) > len(pending):
            self.layout.tombstones = tombstones.load(values[-1])

    async def prune_tombstones(self, older_than_us: int) -> int:
        """Forget the deletions remembered from before ``older_than_us``: one read, one write."""
        tombstones = self.layout.tombstones
        if not tombstones.exists:
            return 0
        (values,) = await self.api.values([tombstones.range()])
        requests, pruned = prune_requests(tombstones.load(values), older_than_us)
        if requests:
            await self.api.batch_update(list(requests))
        return pruned

    async def flush(
        self, changes: dict[str, StreamChanges | None], *, extra_requests: list[dict[str, Any]] | None = None
    ) -> FlushPlan:
        """Write ``changes`` in one atomic request and, once it succeeded, adopt the new bookkeeping."""
        await self.load_keys(name for name, change in changes.items() if change)
        plan = plan_flush(self.layout, changes, cell_limit=self.cell_limit)
        requests: list[str | dict[str, Any]] = [*plan.requests, *(extra_requests or [])]
        if requests:
            await self.api.batch_update(requests, settle=lambda: self._settle(plan))
        for tab in plan.tabs_after.values():
            self.layout.install(tab)
        self.layout.install_tombstones(plan.tombstones_after)
        self.flushes += 1
        return plan

    async def _settle(self, plan: FlushPlan) -> bool:
        """After an ambiguous failure: was ``plan`` applied? Decided from the bookkeeping tabs.

        A batchUpdate is atomic, so every stream tells the same story; streams whose row order the
        flush does not change carry no evidence (their writes are idempotent and safe to replay).
        """
        moved = [
            stream
            for stream, after in plan.tabs_after.items()
            if not self.layout.tabs[stream].exists or self.layout.tabs[stream].keys != after.keys
        ]
        creates_tombstones = not self.layout.tombstones.exists and plan.tombstones_after.exists
        if not moved and not creates_tombstones:
            return False
        titles = {sheet["properties"]["title"] for sheet in (await self.api.metadata()).get("sheets", [])}
        readable = [s for s in moved if index_title(s) in titles]
        rows = await self.api.values([f"{quote_title(index_title(s))}!A2:A" for s in readable])
        found = {
            stream: [str(r[0]) if r else "" for r in values]
            for stream, values in zip(readable, rows, strict=True)
        }
        verdicts: set[bool | None] = set()  # None: matches neither side
        if creates_tombstones:  # its other changes are absolute, so only its creation tells
            verdicts.add(TOMBSTONES_TAB in titles)
        for stream in moved:
            before, after = self.layout.tabs[stream], plan.tabs_after[stream]
            on_sheet = found.get(stream)
            if on_sheet == _trimmed(after.keys or []):
                verdicts.add(True)
            elif (on_sheet is None and not before.exists) or on_sheet == _trimmed(before.keys or []):
                verdicts.add(False)
            else:
                verdicts.add(None)
        if len(verdicts) != 1 or None in verdicts:
            raise FlushOutcomeUnknownError(
                f"A write to spreadsheet {self.spreadsheet_id!r} failed and the bookkeeping of "
                f"{', '.join(moved)} now matches neither its state before nor after the write (was the "
                "sheet edited meanwhile?). Nothing was retried. Run teardown for this spreadsheet and "
                "sync again."
            )
        return bool(verdicts.pop())


def _trimmed(keys: list[str]) -> list[str]:
    """Keys as ``values.get`` returns them: trailing blanks are not sent back."""
    end = len(keys)
    while end and keys[end - 1] == "":
        end -= 1
    return keys[:end]
