"""One stream's backfill queue: which ranges of which accounts wait, and which lanes are still open.

Every operation here costs O(1) or O(one lane), never O(accounts): a Connect platform with
thousands of accounts has thousands of lanes per stream, and a queue rebuilt or scanned on every
page made the read quadratic in accounts (the client spent ~8 ms of CPU per request at 100
accounts). So the queue is append-only with lazy deletion: ``queued`` holds the entries (account,
range) that are really waiting, the same tuples the deques hold, and an entry popped from a deque
counts only if it is still there and its range is still one of its lane's. One set for the
stream, not one per account: a set per lane cost ~220 bytes each (22 MiB at 10,000 accounts and
10 streams). Ranges walked with a cursor that are too short to split (chains) wait in their own
deque, since they go first (``is_chain``).

Fairness among accounts follows from the order: a lane's next range goes to the back of the queue
once its page is checkpointed, so a huge account takes one turn per round like every tiny one,
and thousands of one-page accounts finish in the time their pages take.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sync_platform.sources.stripe.backfill_plan import StreamPlan
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
    ready: deque[Entry] = field(default_factory=deque)
    chains: deque[Entry] = field(default_factory=deque)
    queued: set[Entry] = field(default_factory=set)
    skipped: dict[str, str] = field(default_factory=dict)  # account -> reason
    failed: dict[str, str] = field(default_factory=dict)  # account -> cause (parked alone)
    density: dict[str, float] = field(default_factory=dict)  # account -> objects/s of its last full page
    open_accounts: set[str] = field(default_factory=set)  # lanes neither complete nor skipped
    finished: bool = False

    def __post_init__(self) -> None:
        for account, lane in self.plan.lanes.items():
            if not lane.complete:
                self.open_accounts.add(account)
                self._push(account, lane.remaining)

    @property
    def has_ready(self) -> bool:
        return bool(self.ready) or bool(self.chains)

    def lane_done(self, account: str) -> bool:
        return account in self.skipped or account in self.failed or self.plan.lanes[account].complete

    def settle(self, account: str) -> None:
        """Count the lane as closed once it is complete or skipped."""
        if account in self.open_accounts and self.lane_done(account):
            self.open_accounts.discard(account)

    def pop_chain(self) -> Entry | None:
        return self._pop(self.chains)

    def pop(self) -> Entry | None:
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
        self._push(account, newcomers)

    def drop_lane(self, account: str) -> None:
        """Nothing more of this lane is fetched (its entries are skipped when popped)."""
        for part in self.plan.lanes[account].remaining:
            self.queued.discard((account, part))

    def clear(self) -> None:
        self.ready.clear()
        self.chains.clear()
        self.queued.clear()

    def _push(self, account: str, parts: Iterable[Range]) -> None:
        queued = self.queued
        for part in parts:
            entry = (account, part)
            queued.add(entry)
            (self.chains if is_chain(part) else self.ready).append(entry)

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
