"""What a stream's backfill must still read in this run: its lanes (one per account) and ranges.

The requested window is the configured stream's ``time_range``: ``gte`` defaults to the account's
creation and ``lt`` to the start of the read, in whole seconds. ``lt`` is exclusive and not "now
+ 1": objects created later in the current second would otherwise fall inside a range that was
already listed and be missed by the next run, which starts where this one's window ended. (The
engine sets ``lt`` to the run's frozen ``time_ceiling`` when the run has an id.)

A stored checkpoint is re-aimed at the new window (``backfill_state.reconcile``): a finished
backfill whose window grows lists only the new time. A stored value that is not a checkpoint (an
old event state) is ignored with a warning and the stream starts over; a stream whose objects have
no ``created`` and whose list cannot filter by it is listed whole again only when its window
moved (a new run): within a run every batch asks for the same window, so a lane that completed it
is never listed again (the old design re-listed it in every batch, for every account).

A checkpoint that records the server refusing ``created`` filters (``created_filter_refused``)
plans the stream as one whose list cannot filter by ``created``: listed newest first with the
cursor, each range kept client-side. The record survives a restart of the stream's backfill.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sync_platform.protocol import ConfiguredStream, to_unix
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.backfill_state import (
    LaneState,
    SharedParts,
    StreamStateError,
    Window,
    created_filter_refused,
    dump_stream_state,
    parse_stream_state,
    reconcile,
)
from sync_platform.sources.stripe.catalog import StripeStreamDefinition
from sync_platform.sources.stripe.lane_table import UNREAD_RANGES, LaneTable, Windows
from sync_platform.sources.stripe.subdivision import Range
from sync_platform.sources.stripe.tagged_rendering import TaggedCheckpoint, TaggedRendering


@dataclass
class StreamPlan:
    """One stream's backfill for this read. ``lanes`` are committed state, by account id."""

    definition: StripeStreamDefinition
    lanes: LaneTable
    accounts: dict[str, StripeAccount]
    tagged: bool  # the account-tagged checkpoint shape (Connect accounts configured)
    backfill_limit: int | None = None
    changed: bool = True  # the lanes differ from the stored checkpoint (see ``compare_with``)
    created_filter_refused: bool = False  # the server refused `created` filters: list without them
    _union: Window | None = field(default=None, repr=False)  # accounted windows do not move in a read

    @property
    def name(self) -> str:
        return self.definition.name

    _rendering: TaggedRendering = field(default_factory=TaggedRendering, repr=False)

    def checkpoint(self, changed: Iterable[str] | None = None) -> dict[str, Any]:
        """The stream's checkpoint as it stands, written out (``snapshot`` for a page's)."""
        taken = self.snapshot(changed)
        return taken.render() if isinstance(taken, TaggedCheckpoint) else taken

    def snapshot(self, changed: Iterable[str] | None = None) -> dict[str, Any] | TaggedCheckpoint:
        """The stream's checkpoint as it stands: a Connect stream's as a ``TaggedCheckpoint``
        (written out only if the engine commits it), any other's as its dict. ``changed`` names
        the lanes changed since the last call (None: any may have); the others' rendering is
        reused, so a page of one account does not cost O(accounts) in Python."""
        if not self.tagged:
            return dump_stream_state(
                self.lanes, tagged=False, created_filter_refused=self.created_filter_refused
            )
        self._rendering.render(self.lanes, changed)
        if changed is None or self._union is None:
            self._union = self.lanes.union()
        return self._rendering.snapshot(self._union, created_filter_refused=self.created_filter_refused)

    def compare_with(self, stored: Any) -> None:
        """Set ``changed``: whether the checkpoint as planned differs from ``stored``.

        Only a plan with nothing left to read needs the answer (it checkpoints a re-aimed range
        before it completes, and only if that changed anything); any other checkpoints after its
        first page anyway, so it is not compared: at 10,000 accounts a comparison writes the
        whole checkpoint out and walks it, per stream and batch."""
        if self.tagged:
            self._rendering.render(self.lanes, None)
        if self.lanes.open_count():
            self.changed = True
            return
        self.changed = stored != self.checkpoint(changed=())

    def refuse_created_filter(self) -> None:
        """From now on list this stream without ``created`` filters (the server refused them)."""
        self.created_filter_refused = True
        self.definition = without_created_filter(self.definition)


def without_created_filter(definition: StripeStreamDefinition) -> StripeStreamDefinition:
    """The stream as if its list could not filter by ``created``."""
    return replace(definition, supports_created_filter=False)


def _configured_bounds(configured: ConfiguredStream) -> tuple[int | None, int | None]:
    """The stream's configured ``time_range`` in unix seconds (None where it is open): the same
    for every account, so a plan converts it once, not once per account."""
    time_range = configured.time_range
    gte = to_unix(time_range.gte) if time_range is not None and time_range.gte is not None else None
    lt = to_unix(time_range.lt) if time_range is not None and time_range.lt is not None else None
    return gte, lt


def _windows(bounds: tuple[int | None, int | None], accounts: Iterable[StripeAccount], now: int) -> Windows:
    """Each account's window: from its creation (or the configured start) to ``now`` (or the
    configured end)."""
    gte, lt = bounds
    listed = list(accounts)
    return Windows(
        (account.created if gte is None else gte for account in listed),
        (now if lt is None else lt for _ in listed),
    )


def _lists_whole(definition: StripeStreamDefinition) -> bool:
    return not definition.supports_created_filter and not definition.has_created_field


def plan_stream(
    definition: StripeStreamDefinition,
    configured: ConfiguredStream,
    stored: Any,
    accounts: Sequence[StripeAccount],
    *,
    now: int,
    backfill_limit: int | None,
    restart: bool = False,
    tagged: bool | None = None,
    shared: SharedParts | None = None,
) -> tuple[StreamPlan, list[str]]:
    """The stream's plan and any warnings (a discarded checkpoint). ``restart`` ignores ``stored``.

    ``accounts`` are the accounts this stream is read for (platform first); ``tagged`` says
    whether the read has Connect accounts at all (default: more than one account here), so a
    stream read for the platform alone keeps the account-tagged shape of its siblings. The plans
    of one read pass the same ``shared`` so the streams of an account share their equal parts.
    """
    shared = shared or SharedParts()
    warnings: list[str] = []
    platform = accounts[0].id
    refused = created_filter_refused(stored)
    if refused:
        definition = without_created_filter(definition)
    by_id = shared.by_id(accounts)  # one lane per account, even if one is named twice
    prior: dict[str, LaneState] = {}
    if stored is not None and not restart:
        try:
            prior = parse_stream_state(stored, platform_account=platform, accounts=by_id)
        except StreamStateError as error:
            warnings.append(
                f"The stored state of stream {definition.name!r} is not a backfill checkpoint ({error}); "
                "the stream starts its backfill over."
            )
    bounds = _configured_bounds(configured)
    order, position = shared.order(by_id)
    windows = shared.windows((bounds, now, order), lambda: _windows(bounds, by_id.values(), now))
    remaining: list[tuple[Range, ...] | None] = []
    listed: list[int] = []
    lists_whole = _lists_whole(definition)
    for at, (account, gte, lt) in enumerate(zip(order, windows.gte, windows.lt, strict=True)):
        lane = prior.get(account)
        # A lane not read at all starts afresh, whatever its window was, and holds no ranges of
        # its own until read: the ranges parsed for it were a tuple and a range per lane (~8 MiB
        # at 10,000 accounts in every batch after the first).
        afresh = lane is None or lane.untouched
        if lane is not None and not afresh and lists_whole and lane.complete:
            afresh = lane.accounted != windows[at]  # a new run's window: such a stream is listed whole
        if afresh:
            remaining.append(UNREAD_RANGES if gte < lt else ())
            listed.append(0)
        else:
            assert lane is not None
            lane = reconcile(lane, windows[at])
            remaining.append(lane.remaining)
            listed.append(lane.listed)
    prior.clear()  # the parsed checkpoint's lanes are not needed past here
    limit = configured.backfill_limit or backfill_limit
    if limit is not None:
        for at, count in enumerate(listed):
            if count >= limit:
                remaining[at] = ()  # the stream already listed all it may
    lanes = LaneTable(order, position, windows, remaining, listed)
    if tagged is None:
        tagged = len(accounts) > 1
    plan = StreamPlan(
        definition=definition,
        lanes=lanes,
        accounts=by_id,
        tagged=tagged,
        backfill_limit=limit,
        created_filter_refused=refused,
        # without a configured start every lane's window starts at its account's creation
        _rendering=TaggedRendering(shared, since_creation=bounds[0] is None),
    )
    plan.compare_with(stored)
    return plan, warnings
