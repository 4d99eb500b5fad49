"""One stream's backfill queue: which ranges of which accounts wait, and which lanes are still open.

Every operation here costs O(1) or O(one lane), never O(accounts): a Connect platform with
thousands of accounts has thousands of lanes per stream, and a queue rebuilt or scanned on every
page made the read quadratic in accounts (the client spent ~8 ms of CPU per request at 100
accounts). So the queue is append-only with lazy deletion: ``queued`` holds the entries (account,
range) that are really waiting, the same tuples the deques hold, and an entry popped from a deque
counts only if it is still there and its range is still one of its lane's. Ranges walked with a
cursor that are too short to split (chains) wait in their own deque, since they go first
(``is_chain``).

Nor does the queue hold anything per lane that has not been reached yet. The lanes of a plan are
taken in plan order, one at a time, when the queue runs dry (``_draw``); only a drawn lane has
entries in ``queued`` and a place among the ``open`` accounts, the others are only counted. At the
start of a 10,000-account read the queue held an entry tuple, a set slot, a deque slot and an
open-account slot for every lane of every stream (~15 MiB, the biggest single part of the
client's memory); now it holds the lanes being read. A lane that starts with a chain is drawn at
once, so its chain goes first as before and every lane's count is settled where it was drawn.

Fairness among accounts follows from the order: every lane's first range comes before any lane's
next one, a lane's next range goes to the back of the queue once its page is checkpointed, so a
huge account takes one turn per round like every tiny one, and thousands of one-page accounts
finish in the time their pages take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sync_platform.sources.stripe.backfill_plan import StreamPlan
from sync_platform.sources.stripe.lane_table import UNREAD_RANGES
from sync_platform.sources.stripe.subdivision import MIN_SPLIT_SECONDS, Range

Entry = tuple[str, Range]


def is_chain(part: Range) -> bool:
    """A range being walked with its cursor that is too short to split: its pages can only come
    one after another, so they go first (the backfill cannot end before its longest chain)."""
    return part.cursor is not None and part.lt - part.gte < 2 * MIN_SPLIT_SECONDS


@dataclass(eq=False)
class StreamRun:
    """A started stream: its queues, its open lanes, and per-lane facts learned from pages."""

    plan: StreamPlan
    drawn: deque[Entry] = field(default_factory=deque)  # the ranges of the lanes drawn last
    ready: deque[Entry] = field(default_factory=deque)  # ranges queued again, after every first one
    chains: deque[Entry] = field(default_factory=deque)
    queued: set[Entry] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)  # account -> reason
    failed: dict[str, str] = field(default_factory=dict)  # account -> cause (parked alone)
    density: dict[str, float] = field(default_factory=dict)  # account -> objects/s of its last full page
    open: set[str] = field(default_factory=set)  # drawn lanes neither complete nor skipped
    finished: bool = False
    _undrawn: Iterator[tuple[int, str]] = field(default_factory=lambda: iter(()))  # (position, account)
    _undrawn_open: int = 0  # lanes not drawn yet that are open
    _drawn_early: set[str] = field(default_factory=set)  # lanes drawn at the start (they had chains)

    def __post_init__(self) -> None:
        table = self.plan.lanes
        for account, parts in zip(table.accounts, table.remaining, strict=True):
            if parts is UNREAD_RANGES:  # its whole window, no cursor: not a chain
                self._undrawn_open += 1
            elif not parts:
                continue
            elif any(map(is_chain, parts)):
                self._drawn_early.add(account)
                self.open.add(account)
                self._push(account, parts, self.drawn)
            else:
                self._undrawn_open += 1
        # The plan's lanes are never added or removed during a read, so the iterator stays valid.
        self._undrawn = enumerate(table.accounts)

    @property
    def open_count(self) -> int:
        """Lanes neither complete nor skipped, drawn or not."""
        return len(self.open) + self._undrawn_open

    @property
    def has_ready(self) -> bool:
        return bool(self.chains) or self.has_waiting

    @property
    def has_waiting(self) -> bool:
        """Whether ranges other than chains wait (``pop`` may still find them all stale)."""
        return bool(self.drawn) or bool(self._undrawn_open) or bool(self.ready)

    def lane_done(self, account: str) -> bool:
        return account in self.skipped or account in self.failed or self.plan.lanes[account].complete

    def settle(self, account: str) -> None:
        """Count the lane as closed once it is complete or skipped."""
        if account in self.open and self.lane_done(account):
            self.open.discard(account)

    def pop_chain(self) -> Entry | None:
        return self._pop(self.chains)

    def pop(self) -> Entry | None:
        """The next waiting range: the drawn lanes' first, then the next lane's, then those queued
        again."""
        while True:
            if (entry := self._pop(self.drawn)) is not None:
                return entry
            if not self._draw():
                return self._pop(self.ready)

    def queue_lane(self, account: str, in_flight: set[Range]) -> None:
        """Queue the lane's ranges that are neither queued nor in flight; parts walked with a
        cursor first, then the newest. (An entry whose range a page replaced is skipped when
        popped.)"""
        queued = self.queued
        newcomers = sorted(
            (
                p
                for p in self.plan.lanes[account].remaining
                if (account, p) not in queued and p not in in_flight
            ),
            key=lambda p: (p.cursor is None, -p.lt),
        )
        self._push(account, newcomers, self.ready)

    def drop_lane(self, account: str) -> None:
        """Nothing more of this lane is fetched (its entries are skipped when popped)."""
        for part in self.plan.lanes[account].remaining:
            self.queued.discard((account, part))

    def clear(self) -> None:
        self.drawn.clear()
        self.ready.clear()
        self.chains.clear()
        self.queued.clear()
        self._undrawn, self._undrawn_open = iter(()), 0

    def _draw(self) -> bool:
        """Queue the next open lane not drawn yet; False when there is none."""
        if not self._undrawn_open:
            return False
        table = self.plan.lanes
        for position, account in self._undrawn:
            parts = table.remaining[position]
            if parts is not UNREAD_RANGES and (not parts or account in self._drawn_early):
                continue  # finished, or drawn at the start (it had chains)
            self._undrawn_open -= 1
            self.open.add(account)
            self._push(account, table.ranges(position), self.drawn)
            return True
        self._undrawn_open = 0  # unreachable while the count is right: never wait on a lane that is not there
        return False

    def _push(self, account: str, parts: Iterable[Range], queue: deque[Entry]) -> None:
        queued = self.queued
        for part in parts:
            entry = (account, part)
            queued.add(entry)
            (self.chains if is_chain(part) else queue).append(entry)

    def _pop(self, queue: deque[Entry]) -> Entry | None:
        queued, lanes = self.queued, self.plan.lanes
        while queue:
            entry = queue.popleft()
            if entry in queued:
                queued.discard(entry)
                account, part = entry
                if part in lanes[account].remaining:
                    return entry
        return None


SUMMARY_ACCOUNTS = 5  # accounts a warning names before it only counts the rest


def lanes_summary(stream: str, verb: str, lanes: dict[str, str]) -> str:
    """One warning for many accounts, bounded: a platform of 10,000 accounts must not log 10,000."""
    named = ", ".join(sorted(lanes)[:SUMMARY_ACCOUNTS])
    more = f" and {len(lanes) - SUMMARY_ACCOUNTS} more" if len(lanes) > SUMMARY_ACCOUNTS else ""
    causes = "; ".join(list(dict.fromkeys(lanes.values()))[:3])
    return f"Stream {stream!r} was {verb} for {named}{more}: {causes}"
