"""A Connect stream's account-tagged checkpoint, kept between pages as a status byte per lane.

A Connect stream has a lane per account and a checkpoint after every page. Rendering every lane
each time made a page cost O(accounts) in Python (at 1,000 accounts, a fifth of the client's
CPU), and keeping the rendering between pages as JSON parts (an entry and ranges per lane, in
blocks of accounts rebuilt when one of their lanes changed) cost ~0.6 MB per stream at 10,000
accounts: ~6 MiB of the client's memory that grew with accounts.

Most of a Connect backfill's lanes say nothing a byte cannot: a lane is unread (named under
``unread``) or finished (its entry is its count, or with a configured start an entry shared by
every lane over the same window with the same count). Only the lanes being read, a few per stream
at a time, need JSON of their own. So a rendering keeps, by the lane's position in its
``LaneTable``, a status byte, plus the entry and ranges of the lanes being read; a page
re-renders only its lanes (O(1) each). A page's checkpoint is a ``TaggedCheckpoint``: a copy of
the bytes (10 KB at 10,000 accounts) and of the lanes being read, and the table's live counts.
Only the checkpoints the engine commits are written out (``DeferredStateData``), in C-level
passes over the status bytes (``itertools.compress``): ~1 ms at 10,000 accounts.

A snapshot shares nothing the running backfill writes to in a way it reads (reference bug #4):
the bytes and the dict of lanes being read are copies, and the JSON parts they hold, like the
accounts' order and windows, are never mutated. The counts are the table's own array, written as
pages come: a snapshot reads from it only the lanes it holds finished, and a finished lane's count
does not change again within the read (``LaneTable.lend_counts``: the table copies its counts
first if one ever would). Copying them for every page cost 80 KB a stream at 10,000 accounts,
held by each stream's latest snapshot.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from itertools import chain, compress
from typing import Any

from sync_platform.protocol import DeferredStateData
from sync_platform.sources.stripe.backfill_state import (
    CREATED_FILTER_REFUSED,
    SharedParts,
    Window,
    tagged_ranges_json,
    untouched,
)
from sync_platform.sources.stripe.lane_table import UNREAD_RANGES, LaneTable, Windows

UNREAD, READING, FINISHED = 0, 1, 2
"""A lane's status byte. Every lane but an unread one has an entry under ``accounts``."""

_FINISHED_MASK = bytes(1 if status == FINISHED else 0 for status in range(256))
_UNREAD_MASK = bytes(1 if status == UNREAD else 0 for status in range(256))

_Reading = tuple[dict[str, Any], tuple[dict[str, Any], ...]]
"""A lane being read: its entry under ``accounts`` and its ranges' JSON under ``remaining``."""


class TaggedRendering:
    """One stream's account-tagged checkpoint between pages (see the module docstring). With
    ``since_creation`` (the plan's windows start at each account's creation) a finished lane's
    entry is its count."""

    def __init__(self, shared: SharedParts | None = None, *, since_creation: bool = False) -> None:
        self._shared = shared or SharedParts()
        self._since_creation = since_creation
        self._table: LaneTable | None = None  # the lanes rendered
        self._status = bytearray()  # by position: UNREAD, READING or FINISHED
        self._reading: dict[int, _Reading] = {}  # by position: the lanes being read

    def render(self, lanes: LaneTable, changed: Iterable[str] | None) -> None:
        """Re-render ``changed`` lanes (every lane when None, or when ``lanes`` is a new table)."""
        if changed is None or lanes is not self._table:
            self._table = lanes
            count = len(lanes)
            self._status, self._reading = bytearray(count), {}
            for position in range(count):
                self._render_lane(lanes, position)
            return
        for account in changed:
            position = lanes.position.get(account)
            if position is not None:
                self._render_lane(lanes, position)

    def _render_lane(self, table: LaneTable, position: int) -> None:
        """Render the lane from the table's columns (no ``Lane`` view: a full render walks every
        lane of the stream, per stream and batch)."""
        remaining, listed = table.remaining[position], table.listed[position]
        if remaining is UNREAD_RANGES or untouched(table.windows[position], remaining, listed):
            self._status[position] = UNREAD
        elif not remaining:
            self._status[position] = FINISHED
        else:
            self._status[position] = READING
            entry = self._shared.entry(table.windows[position], listed)
            self._reading[position] = (entry, tagged_ranges_json(table.accounts[position], remaining))
            return
        self._reading.pop(position, None)

    def snapshot(self, union: Window, *, created_filter_refused: bool = False) -> TaggedCheckpoint:
        """The checkpoint as it stands, cheap to take; ``render()`` writes it out. The lanes that
        changed since the last ``render`` must have been rendered (a finished lane's count is read
        from the table when written out: it does not change once the lane is finished)."""
        table = self._table
        if table is None:
            table = LaneTable((), {}, Windows((), ()), [], [])
        return TaggedCheckpoint(
            self._shared,
            union,
            table.accounts,
            table.windows,
            bytes(self._status),
            table.lend_counts(),
            dict(self._reading),
            table.total,
            since_creation=self._since_creation,
            created_filter_refused=created_filter_refused,
        )

    def checkpoint(self, union: Window, *, created_filter_refused: bool = False) -> dict[str, Any]:
        """The checkpoint, equal to ``dump_stream_state(lanes, tagged=True)``'s."""
        return self.snapshot(union, created_filter_refused=created_filter_refused).render()


class TaggedCheckpoint(DeferredStateData):
    """A Connect stream's checkpoint at one page: the rendering's lanes as they stood then."""

    __slots__ = (
        "_accounts",
        "_counts",
        "_listed",
        "_reading",
        "_refused",
        "_shared",
        "_since_creation",
        "_status",
        "_union",
        "_windows",
    )

    def __init__(
        self,
        shared: SharedParts,
        union: Window,
        accounts: Sequence[str],
        windows: Sequence[Window],
        status: bytes,
        counts: array[int],
        reading: dict[int, _Reading],
        listed: int,
        *,
        since_creation: bool,
        created_filter_refused: bool,
    ) -> None:
        self._shared, self._union, self._accounts, self._windows = shared, union, accounts, windows
        self._status, self._counts, self._reading, self._listed = status, counts, reading, listed
        self._since_creation, self._refused = since_creation, created_filter_refused

    def render(self) -> dict[str, Any]:
        ids, status, counts = self._accounts, self._status, self._counts
        # every lane but an unread one has an entry, in the accounts' order; a count to start with
        # (the live count: a lane being read then has its entry of the snapshot's time put in)
        accounts: dict[str, Any] = dict(zip(compress(ids, status), compress(counts, status), strict=True))
        if not self._since_creation:  # a finished lane's entry names its window
            finished = status.translate(_FINISHED_MASK)
            entry = self._shared.entry
            for account, window, count in zip(
                compress(ids, finished),
                compress(self._windows, finished),
                compress(counts, finished),
                strict=True,
            ):
                accounts[account] = entry(window, count, final=True)
        reading = sorted(self._reading.items())
        for position, (entry_json, _) in reading:
            accounts[ids[position]] = entry_json
        checkpoint: dict[str, Any] = {
            "accounted_range": self._shared.window_json(self._union),
            "remaining": list(chain.from_iterable(ranges for _, (_, ranges) in reading)),
            "unread": list(compress(ids, status.translate(_UNREAD_MASK))),
            "listed": self._listed,
            "accounts": accounts,
        }
        if self._refused:
            checkpoint[CREATED_FILTER_REFUSED] = True
        return checkpoint
