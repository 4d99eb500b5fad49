"""The per-stream backfill checkpoint: its JSON shapes, and reconciling it with a new time range.

One account (no Connect accounts configured) keeps exactly the shape the issue defines::

    {"accounted_range": {"gte": ISO, "lt": ISO},
     "remaining": [{"gte": ISO, "lt": ISO, "cursor": "cus_…" | null}, ...],
     "listed": 1234}

``remaining == []`` means every object created in ``accounted_range`` has been listed; ``listed``
counts the objects emitted for it so far, across resumes. A stream whose server refused ``created``
filters (a Stripe-compatible server that accepts fewer parameters) also says
``"created_filter_refused": true``, so later runs list it without them from the first request;
the key is absent otherwise, and a checkpoint without it is read as "not refused".

With Connect accounts each account has its own range (backfills start at each account's
creation), so ranges are tagged with their account and per-account figures sit under
``accounts``; the top level keeps ``remaining`` (all accounts) and ``listed`` (their sum), so
readers of the simple shape still see progress::

    {"accounted_range": {union}, "remaining": [{"account": "acct_…", "gte", "lt", "cursor"}, ...],
     "unread": ["acct_…", ...], "listed": 1234,
     "accounts": {"acct_…": {"accounted_range": {...}, "listed": 1000}, ...}}

A lane not read at all (its one range is its whole window, no cursor, nothing listed:
``LaneState.untouched``) is named only under ``unread``. Its window is whatever the next read plans
for it (a read plans an unread lane afresh), so neither an entry nor a range would say more, and
at the start of a Connect backfill that is nearly every lane: a range of its own was ~105 bytes
of JSON per account and stream in every save, an id is ~25. The stream is complete when both
``remaining`` and ``unread`` are empty. (A checkpoint from before ``unread`` names such a lane
under ``remaining`` alone, without an entry, and reads as it always did.)

A finished lane whose window starts at its account's creation and ends where the stream's
``accounted_range`` ends (every finished lane of a stream without a configured start) has its
count as its entry, ``"acct_…": 12``: at the end of a Connect backfill that is nearly every lane,
and the window the entry would repeat is a fact of the account (``StripeAccount.created``), so a
reader that knows the accounts' creation resolves it (``parse_stream_state``). An entry object is
~105 bytes of JSON and ~100 of memory per account and stream, a count ~25 and nothing (small ints
are shared): 10,000 accounts' finished stream checkpoints (10 streams) were 11.5 MB of JSON, now
2.7.

Checkpoints are built as new dicts every time they are emitted, so no emitted state shares a
mutable object with the running backfill (reference bug #4).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sync_platform.protocol import from_unix, iso
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.errors import StripeSourceError
from sync_platform.sources.stripe.subdivision import Range

T = TypeVar("T")

CREATED_FILTER_REFUSED = "created_filter_refused"
_ISO = {"type": "string", "format": "date-time"}
_WINDOW = {"type": "object", "properties": {"gte": _ISO, "lt": _ISO}, "required": ["gte", "lt"]}
STREAM_STATE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Stripe stream's backfill checkpoint (see docs/sources/stripe.md).",
    "properties": {
        "accounted_range": _WINDOW,
        # Its items ({gte, lt, cursor}, plus ``account`` with Connect) are checked by
        # ``parse_stream_state`` like the ``accounts`` entries below, and for the same reason: a
        # Connect platform's unread lanes are all here (10,000 at the start of a 1,000-account
        # backfill), and walking them at every batch was 5 % of the client's CPU.
        "remaining": {"type": "array", "description": "The ranges left to list: [{gte, lt, cursor}]."},
        "unread": {
            # Checked by ``parse_stream_state`` too: 10,000 ids at the start of a Connect backfill.
            "type": "array",
            "description": "Connect accounts whose lane is not read yet: each one's whole window is left.",
        },
        "listed": {"type": "integer", "minimum": 0},
        "created_filter_refused": {"type": "boolean"},
        "accounts": {
            # Each entry is {"accounted_range": {gte, lt}, "listed": n}, or a finished lane's count
            # (see the module docstring). The entries are checked by
            # ``parse_stream_state`` when the checkpoint is read (a bad one restarts the stream, as
            # the engine's schema check would), not described here: the engine validates the
            # stored state against this schema at every batch, and at 10,000 accounts walking
            # every entry cost 0.33 s per stream per batch (0.06 s without), a quarter of the
            # client's CPU.
            "type": "object",
            "description": (
                "Per Connect account: {accounted_range: {gte, lt}, listed}, or for a finished lane "
                "over [the account's creation, accounted_range.lt) its listed count alone."
            ),
        },
    },
    "required": ["accounted_range", "remaining"],
}


class StreamStateError(StripeSourceError, ValueError):
    """A stored stream state that is not a backfill checkpoint (the stream restarts its backfill)."""


@dataclass(frozen=True, slots=True)
class Window:
    """A requested ``[gte, lt)`` in unix seconds."""

    gte: int
    lt: int


class LaneFacts:
    """What a lane's window, ranges and count say about it: the same for a ``LaneState`` and for a
    lane of a ``lane_table.LaneTable``."""

    __slots__ = ()
    accounted: Window
    remaining: tuple[Range, ...]
    listed: int

    @property
    def complete(self) -> bool:
        return not self.remaining

    @property
    def untouched(self) -> bool:
        return untouched(self.accounted, self.remaining, self.listed)


def untouched(accounted: Window, remaining: tuple[Range, ...], listed: int) -> bool:
    """Nothing read yet: the lane's one range is its whole window, without a cursor. A Connect
    checkpoint lists such a lane only under ``remaining`` (its entry is implied)."""
    if listed or len(remaining) != 1:
        return False
    (part,) = remaining
    return part.cursor is None and part.gte == accounted.gte and part.lt == accounted.lt


@dataclass(slots=True)
class LaneState(LaneFacts):
    """The backfill of one stream in one account: what is asked, what is left, what was listed.

    What a checkpoint is parsed into, and what ``reconcile`` re-aims; a read holds its lanes as
    columns (``lane_table.LaneTable``). ``remaining`` is a tuple replaced whole when a page changes
    it, so immutable parts can be shared between the streams of one account (``SharedParts``)."""

    accounted: Window
    remaining: tuple[Range, ...] = ()
    listed: int = 0


def first_ranges(gte: int, lt: int) -> tuple[Range, ...]:
    """A lane's ranges before its first page: its whole window ``[gte, lt)``, or nothing for an
    empty one."""
    return (Range(gte, lt),) if gte < lt else ()


class _Entry:
    """Lends its instance dict to a lane's entry under ``accounts`` (see ``_sharing_keys``)."""


class _WindowJson:
    """Lends its instance dict to a window's JSON, ``{"gte", "lt"}``."""


class _TaggedRangeJson:
    """Lends its instance dict to an account-tagged range's JSON, ``{"account", "gte", "lt", "cursor"}``."""


def _sharing_keys(kind: type, **values: Any) -> dict[str, Any]:
    """``values`` as a dict made as an instance's ``__dict__``: CPython's instance dicts share one
    keys table among all instances of a class (PEP 412), so the dict holds only its values. A
    Connect checkpoint's parts repeat the same keys per account and lane: an entry costs ~100
    bytes against ~190 for a dict literal, and near the end of a 10,000-account read there are
    70,000-100,000 distinct entries. It is a plain ``dict`` to everyone else (equality, JSON,
    copies), and, like every part of a rendered checkpoint, never mutated. Keys are set in the
    order given, the same for every instance of ``kind``, so the keys table stays shared and the
    JSON is the same as a literal's."""
    holder = kind()
    for key, value in values.items():
        setattr(holder, key, value)
    return holder.__dict__


def _entry(window_json: dict[str, str], listed: int) -> dict[str, Any]:
    """A lane's entry under ``accounts``."""
    return _sharing_keys(_Entry, accounted_range=window_json, listed=listed)


class SharedParts:
    """Immutable pieces that every stream of an account repeats, made once per read.

    A Connect read plans each account's lane of every stream from the same window, so the
    accounts' order, the windows and the entries of lanes finished alike are equal across
    streams (10 at the default connected stream set). Each is made once and shared: every piece
    is immutable (tuples, int columns nothing writes to, and JSON dicts that nothing mutates once
    rendered: the same rule that lets successive checkpoints share rendered lanes), so sharing is
    safe. One instance lives as long as its read.

    Nothing here is kept per account: the windows are int columns (``lane_table.Windows``), and a
    lane's first range is made when asked for. A ``Window``, its first ``Range`` and their tuple
    and holder per account were ~300 bytes an account, the biggest part of the client's memory
    that grew with accounts (3 MB at 10,000). Only finished lanes' shared entries are kept by
    window, and only for windows that start at a configured time (the others' entry is a count).
    """

    __slots__ = ("_entries", "_parts")

    def __init__(self) -> None:
        self._parts: dict[tuple[Any, ...], Any] = {}  # pieces made once per read, not per account
        # (gte, lt) -> listed -> a finished lane's entry, for windows whose lanes finish as entries
        self._entries: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}

    def _made(self, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
        """The piece stored under ``key``, made by ``make`` the first time."""
        if (found := self._parts.get(key)) is None:
            found = self._parts[key] = make()
        return found

    def window_json(self, window: Window) -> dict[str, str]:
        """The window's JSON, made anew: kept per window, it outlived the lanes that needed it.
        Most windows are one account's (a read from each account's creation), whose lanes need
        it only while being read (a finished one's entry is its count), yet a cache held it to
        the read's end: ~250 bytes an account, 2.5 MB at 10,000. A window that finished lanes
        share (one starting at a configured time) keeps it in their shared entries."""
        return _window_json(window)

    def entry(self, window: Window, listed: int, *, final: bool = False) -> dict[str, Any]:
        """An account's entry under ``accounts``: its own dict while its count moves, shared once
        it cannot (nothing listed yet, or the lane is complete: ``final``). The streams of an
        account that finished with the same count then hold one entry, not one each (~100
        bytes). Only lanes whose window starts at a configured time get here once finished; the
        others' entry is their count (``tagged_rendering``)."""
        if listed and not final:
            return _entry(self.window_json(window), listed)
        key = (window.gte, window.lt)
        if (entries := self._entries.get(key)) is None:
            entries = self._entries[key] = {}
        if (found := entries.get(listed)) is None:
            found = entries[listed] = _entry(self.window_json(window), listed)
        return found

    def order(self, accounts: Iterable[str]) -> tuple[tuple[str, ...], dict[str, int]]:
        """The accounts in checkpoint order and each one's position there; the streams read for
        the same accounts share them."""
        order = tuple(accounts)
        return self._made(("order", order), lambda: (order, {account: i for i, account in enumerate(order)}))

    def windows(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        """The windows of a read's lanes by position, made by ``make`` once per ``key`` (the
        stream's configured bounds, the accounts' order and the read's time): the streams of a
        read with the same bounds share one column, which nothing writes to."""
        return self._made(("windows", *key), make)

    def by_id(self, accounts: Sequence[StripeAccount]) -> dict[str, StripeAccount]:
        """``accounts`` by id, one dict for every stream read for the same accounts."""
        return self._made(
            ("by_id", *(account.id for account in accounts)), lambda: {a.id: a for a in accounts}
        )


def fresh_lane(window: Window) -> LaneState:
    return LaneState(window, first_ranges(window.gte, window.lt), 0)


def reconcile(lane: LaneState, window: Window) -> LaneState:
    """``lane`` re-aimed at ``window``: ranges outside it dropped, the rest clipped, new time added.

    A cursor survives clipping: ``starting_after`` is a position in the newest-first order, so a
    narrower ``created`` filter after it still yields exactly the unread objects.
    """
    if lane.accounted == window:
        return LaneState(window, lane.remaining, lane.listed)
    kept = []
    for part in lane.remaining:
        gte, lt = max(part.gte, window.gte), min(part.lt, window.lt)
        if gte < lt:
            kept.append(Range(gte, lt, part.cursor))
    old = lane.accounted
    if window.gte < old.gte:
        kept.append(Range(window.gte, min(old.gte, window.lt)))
    if window.lt > old.lt:
        kept.append(Range(max(old.lt, window.gte), window.lt))
    return LaneState(window, tuple(kept), lane.listed)


# --- JSON -----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1 << 14)
def _iso(seconds: int) -> str:
    """Cached: a Connect checkpoint repeats each account's window ends in every stream. Bounded to
    about the ends of 10,000 accounts (~2 MB): a long one-account backfill's range boundaries are
    all distinct, and a bigger cache only grew with the run."""
    return iso(from_unix(seconds))


@functools.lru_cache(maxsize=1 << 14)
def _parsed_iso(value: str) -> int:
    """Cached like ``_iso``, for the same reason: parsing every account's window in every stream
    of a 10,000-account checkpoint, at every batch, parsed each string ten times."""
    return int(datetime.fromisoformat(value).timestamp())


def _place(where: tuple[object, ...]) -> str:
    """Where in the checkpoint, for an error: ``("remaining", 3)`` is ``remaining[3]``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _seconds(value: Any, where: tuple[object, ...]) -> int:
    if not isinstance(value, str):
        raise StreamStateError(f"{_place(where)} must be an ISO date-time string")
    try:
        return _parsed_iso(value)
    except ValueError:
        raise StreamStateError(f"{_place(where)} is not an ISO date-time: {value!r}") from None


def _window_json(window: Window) -> dict[str, str]:
    return _sharing_keys(_WindowJson, gte=_iso(window.gte), lt=_iso(window.lt))


def tagged_ranges_json(account: str, remaining: tuple[Range, ...]) -> tuple[dict[str, Any], ...]:
    """The account-tagged renderings of a lane's ``remaining`` ranges, as under ``remaining``."""
    return tuple(_range_json(part, account) for part in remaining)


def _range_json(part: Range, account: str | None = None) -> dict[str, Any]:
    if account is None:
        return {"gte": _iso(part.gte), "lt": _iso(part.lt), "cursor": part.cursor}
    return _sharing_keys(
        _TaggedRangeJson, account=account, gte=_iso(part.gte), lt=_iso(part.lt), cursor=part.cursor
    )


def _window(raw: Any, *where: object) -> Window:
    """The window ``raw`` describes. ``where`` (its place, for an error) is only formatted for an
    error: a 10,000-account checkpoint has 100,000 windows and ranges to read at every batch."""
    if not isinstance(raw, Mapping):
        raise StreamStateError(f"{_place(where)} must be an object with gte and lt")
    return Window(_seconds(raw.get("gte"), (*where, "gte")), _seconds(raw.get("lt"), (*where, "lt")))


def _range(raw: Any, *where: object) -> Range:
    if not isinstance(raw, Mapping):
        raise StreamStateError(f"{_place(where)} must be an object with gte, lt and cursor")
    cursor = raw.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise StreamStateError(f"{_place(where)}.cursor must be an object id or null")
    return Range(_seconds(raw.get("gte"), (*where, "gte")), _seconds(raw.get("lt"), (*where, "lt")), cursor)


def _listed(raw: Any) -> int:
    return raw if isinstance(raw, int) and raw >= 0 else 0


def dump_stream_state(
    lanes: Mapping[str, LaneState],
    *,
    tagged: bool,
    created_filter_refused: bool = False,
    since_creation: bool = False,
) -> dict[str, Any]:
    """The checkpoint of a stream: the one-account shape, or the account-tagged one (``tagged``),
    plus ``created_filter_refused`` when the server refused ``created`` filters. ``since_creation``
    says that every lane's window starts at its account's creation and ends where the others'
    do: a finished lane's entry is then its count (see the module docstring)."""
    checkpoint = _dump_lanes(lanes, tagged=tagged, since_creation=since_creation)
    if created_filter_refused:
        checkpoint[CREATED_FILTER_REFUSED] = True
    return checkpoint


def created_filter_refused(raw: Any) -> bool:
    """Whether a stored checkpoint records that the server refused ``created`` filters."""
    return isinstance(raw, Mapping) and raw.get(CREATED_FILTER_REFUSED) is True


def _dump_lanes(lanes: Mapping[str, LaneState], *, tagged: bool, since_creation: bool) -> dict[str, Any]:
    if not tagged:
        ((lane),) = lanes.values()
        return {
            "accounted_range": _window_json(lane.accounted),
            "remaining": [_range_json(part) for part in lane.remaining],
            "listed": lane.listed,
        }
    return {
        "accounted_range": _window_json(union_window(lane.accounted for lane in lanes.values())),
        "remaining": [
            _range_json(part, account)
            for account, lane in lanes.items()
            if not lane.untouched
            for part in lane.remaining
        ],
        "unread": [account for account, lane in lanes.items() if lane.untouched],
        "listed": sum(lane.listed for lane in lanes.values()),
        "accounts": {
            account: lane.listed
            if since_creation and lane.complete
            else {"accounted_range": _window_json(lane.accounted), "listed": lane.listed}
            for account, lane in lanes.items()
            if not lane.untouched
        },
    }


def entry_listed(entry: Any) -> int:
    """What an account's entry under ``accounts`` counts: a finished lane's entry is the count; an
    object without a valid ``listed`` counts 0, as ``parse_stream_state`` reads it."""
    return entry if type(entry) is int else _listed(entry.get("listed"))


def parse_stream_state(
    raw: Any, *, platform_account: str, accounts: Mapping[str, StripeAccount] | None = None
) -> dict[str, LaneState]:
    """The lanes a stored checkpoint holds, by account; raises ``StreamStateError`` for other shapes.

    The one-account shape belongs to ``platform_account``, so adding Connect accounts later keeps
    the platform's progress. A finished lane stored as its count has its window resolved from
    ``accounts`` (the account's creation to where the stream's ``accounted_range`` ends); a count
    of an account not among them is left out, as the read it is parsed for does not cover it. An
    account under ``unread`` has no lane here either: a read plans an unread lane afresh.
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("remaining"), list):
        raise StreamStateError("a backfill checkpoint has `accounted_range` and a `remaining` list")
    entries = raw.get("accounts")
    if entries is None:
        lane = LaneState(
            _window(raw.get("accounted_range"), "accounted_range"),
            tuple(_range(part, "remaining", i) for i, part in enumerate(raw["remaining"])),
            _listed(raw.get("listed")),
        )
        return {platform_account: lane}
    if not isinstance(entries, Mapping):
        raise StreamStateError("`accounts` must map account ids to their range and count")
    unread = raw.get("unread", [])
    if not isinstance(unread, list) or not all(type(account) is str for account in unread):
        raise StreamStateError("`unread` must be a list of account ids")
    lanes: dict[str, LaneState] = {}
    ends: int | None = None  # where the stream's accounted range ends: a count's window ends there
    for account, entry in entries.items():
        if type(entry) is int and entry >= 0:  # a finished lane over [its account's creation, ends)
            known = accounts.get(account) if accounts is not None else None
            if known is not None:
                if ends is None:
                    ends = _window(raw.get("accounted_range"), "accounted_range").lt
                lanes[str(account)] = LaneState(Window(known.created, ends), (), entry)
            continue
        if not isinstance(entry, Mapping):
            raise StreamStateError(f"accounts.{account} must be an object or a finished lane's count")
        window = _window(entry.get("accounted_range"), "accounts", account, "accounted_range")
        lanes[str(account)] = LaneState(window, (), _listed(entry.get("listed")))
    ranges: dict[str, list[Range]] = {}
    for i, part in enumerate(raw["remaining"]):
        account = part.get("account") if isinstance(part, Mapping) else None
        if not isinstance(account, str):
            raise StreamStateError(f"remaining[{i}] names no account")
        ranges.setdefault(account, []).append(_range(part, "remaining", i))
    for account, parts in ranges.items():
        if type(entries.get(account)) is int:
            raise StreamStateError(f"account {account} is finished (its entry is a count) but has ranges")
        lane = lanes.get(account)
        if lane is not None:
            lane.remaining = tuple(parts)
            continue
        # Not under `accounts`: a lane not read at all, whose one range is its window.
        if len(parts) != 1 or parts[0].cursor is not None:
            raise StreamStateError(f"account {account} has ranges in progress but no entry under `accounts`")
        (part,) = parts
        lanes[account] = LaneState(Window(part.gte, part.lt), (part,), 0)
    if unread and (both := set(unread) & (entries.keys() | ranges.keys())):
        raise StreamStateError(f"account {min(both)} is unread but has an entry or ranges")
    return lanes


def union_window(windows: Iterable[Window]) -> Window:
    listed = list(windows)
    return Window(min(w.gte for w in listed), max(w.lt for w in listed))
