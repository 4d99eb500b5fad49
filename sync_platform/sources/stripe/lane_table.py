"""A stream's lanes for one read, held as columns: a slot per account in each, not an object per lane.

A Connect read has a lane per account and stream: 100,000 at 10,000 accounts and the default
connected stream set. As a dict of ``LaneState`` objects each lane cost a dict slot and a slotted
object (~90 bytes), and the checkpoint rendering mirrored every lane in two more dicts keyed by
account: ~11 MiB at 10,000 accounts, one of the parts of the client's memory that grew with
accounts. Here a stream's lanes are three columns in checkpoint order (window, remaining ranges,
listed count) beside the account order and positions that every stream of the read shares
(``SharedParts.order``), and the rendering keeps a status byte and a count per lane
(``tagged_rendering``): a lane costs a few 8-byte slots. The windows column is shared too: a read
gives each account's lanes of every stream the same window.

Nor does an account cost an object per window: the windows are two int columns (``Windows``),
and a lane not read yet holds ``None`` for its ranges (its one range is its whole window, made
when asked for: ``LaneTable.ranges``). A ``Window`` per account, with its first ``Range``, their
tuple and a holder shared by the account's streams, were ~300 bytes an account: 3 MB of the
client's memory at 10,000 accounts, and ~45,000 of the small blocks a run keeps to its end.

``LaneTable`` reads like the ``dict[str, LaneState]`` it replaces: ``table[account]`` is a
``Lane``, a view that reads and writes the lane's slots in place, so the backfill runner and the
queue change a lane exactly as they changed a ``LaneState``. A read's accounts are fixed: lanes
are neither added nor removed once the table is built (a newly authorized account gets a read of
its own).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Mapping

from sync_platform.sources.stripe.backfill_state import LaneFacts, LaneState, Window, first_ranges
from sync_platform.sources.stripe.subdivision import Range

UNREAD_RANGES = None
"""A lane's ``remaining`` slot before its first page: its one range is its whole window."""


class Windows:
    """The lanes' windows by position, as two int columns (see the module docstring); reads like
    a sequence of ``Window``, each made when asked for."""

    __slots__ = ("gte", "lt")

    def __init__(self, gte: Iterable[int], lt: Iterable[int]) -> None:
        self.gte, self.lt = array("q", gte), array("q", lt)
        if len(self.gte) != len(self.lt):
            raise ValueError("a window column has a start and an end per lane")

    @classmethod
    def of(cls, windows: Iterable[Window]) -> Windows:
        listed = list(windows)
        return cls((w.gte for w in listed), (w.lt for w in listed))

    def __len__(self) -> int:
        return len(self.gte)

    def __getitem__(self, position: int) -> Window:
        return Window(self.gte[position], self.lt[position])

    def __iter__(self) -> Iterator[Window]:
        return map(Window, self.gte, self.lt)

    def first_ranges(self, position: int) -> tuple[Range, ...]:
        """The lane's ranges before its first page: its whole window (nothing for an empty one)."""
        return first_ranges(self.gte[position], self.lt[position])

    def union(self) -> Window:
        """The smallest window holding every lane's."""
        return Window(min(self.gte), max(self.lt))


class LaneTable(Mapping[str, "Lane"]):
    """One stream's lanes of a read, by account (see the module docstring)."""

    __slots__ = ("_counts_lent", "accounts", "listed", "position", "remaining", "total", "windows")

    def __init__(
        self,
        accounts: tuple[str, ...],
        position: Mapping[str, int],
        windows: Windows,
        remaining: list[tuple[Range, ...] | None],
        listed: Iterable[int],
    ) -> None:
        self.accounts = accounts  # in checkpoint order; shared by the streams of the read
        self.position = position  # account -> its slot; shared likewise
        self.windows = windows  # never written: a lane's window is fixed for the read
        self.remaining = remaining  # UNREAD_RANGES for a lane not read yet (see ``ranges``)
        self.listed = array("q", listed)
        if not len(accounts) == len(position) == len(windows) == len(remaining) == len(self.listed):
            raise ValueError("every column of a lane table has one slot per account")
        self.total = sum(self.listed)  # of ``listed``, kept as lanes count (the checkpoint's ``listed``)
        self._counts_lent = False  # ``listed`` is read by a snapshot: see ``lend_counts``

    @classmethod
    def of(cls, lanes: Mapping[str, LaneState]) -> LaneTable:
        """A table holding ``lanes`` (in their order)."""
        accounts = tuple(lanes)
        return cls(
            accounts,
            {account: i for i, account in enumerate(accounts)},
            Windows.of(lane.accounted for lane in lanes.values()),
            [lane.remaining for lane in lanes.values()],
            [lane.listed for lane in lanes.values()],
        )

    def __getitem__(self, account: str) -> Lane:
        return Lane(self, self.position[account])

    def __iter__(self) -> Iterator[str]:
        return iter(self.accounts)

    def __len__(self) -> int:
        return len(self.accounts)

    def __contains__(self, account: object) -> bool:
        return account in self.position

    def ranges(self, position: int) -> tuple[Range, ...]:
        """The lane's ranges left, its whole window if it was not read yet."""
        parts = self.remaining[position]
        return self.windows.first_ranges(position) if parts is UNREAD_RANGES else parts

    def lend_counts(self) -> array[int]:
        """``listed`` itself, for a page's snapshot to read its finished lanes' counts from later.

        A finished lane's count does not change within a read (a page for a lane with no ranges
        left is dropped), so a snapshot needs no copy: at 10,000 accounts one was 80 KB a stream
        and page. Should a lane with no ranges left be given another count or reopened, the table
        first moves to a copy of its own (``_before_write``), so no lent array ever changes a
        count a snapshot reads."""
        self._counts_lent = True
        return self.listed

    def _before_write(self, position: int) -> None:
        """Stop sharing ``listed`` before a finished lane (no ranges left) changes."""
        if self._counts_lent and self.remaining[position] == ():
            self.listed = array("q", self.listed)
            self._counts_lent = False

    def at(self, position: int) -> Lane:
        return Lane(self, position)

    def open_count(self) -> int:
        """Lanes with ranges left (C-level: called per stream and batch over every account)."""
        return len(self.remaining) - self.remaining.count(())

    def union(self) -> Window:
        """The smallest window holding every lane's."""
        return self.windows.union()

    def states(self) -> dict[str, LaneState]:
        """The lanes as ``LaneState`` copies, by account (for tests and one-off reports)."""
        return {account: self.at(i).state() for i, account in enumerate(self.accounts)}


class Lane(LaneFacts):
    """One lane of a ``LaneTable``: reads and writes its slots in place, like a ``LaneState``."""

    __slots__ = ("_at", "_table")

    def __init__(self, table: LaneTable, at: int) -> None:
        self._table, self._at = table, at

    @property
    def accounted(self) -> Window:
        return self._table.windows[self._at]

    @property
    def remaining(self) -> tuple[Range, ...]:
        return self._table.ranges(self._at)

    @remaining.setter
    def remaining(self, value: tuple[Range, ...]) -> None:
        table = self._table
        if value:  # reopening a finished lane: its later counts would no longer copy, yet a snapshot reads it
            table._before_write(self._at)
        table.remaining[self._at] = value

    @property
    def listed(self) -> int:
        return self._table.listed[self._at]

    @listed.setter
    def listed(self, value: int) -> None:
        table = self._table
        table._before_write(self._at)
        table.total += value - table.listed[self._at]
        table.listed[self._at] = value

    def state(self) -> LaneState:
        return LaneState(self.accounted, self.remaining, self.listed)

    def __repr__(self) -> str:
        return f"Lane({self._table.accounts[self._at]!r}, {self.state()!r})"
