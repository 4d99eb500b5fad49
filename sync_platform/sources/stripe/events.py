"""Polling ``/v1/events``: every new event since the cursor, oldest first, without losing late ones.

**The overlap window.** Stripe makes an event listable a little after its ``created`` second, so
a poll that asks only for ``created > cursor`` misses events of the cursor's second (or the ones
just before) that were not visible yet (reference bug #10). Each poll therefore starts
``OVERLAP_SECONDS`` before the cursor and skips the events it already applied in that window,
whose ids the checkpoint keeps (``recent_event_ids``: id -> created, pruned to the window).

**Oldest first, in bounded memory.** Stripe lists events newest first and cannot start a list
at its oldest end, so the poll walks forward through time windows: each window is read whole
(newest first, every ``types[]`` chunk of at most 20 types and every account), then applied
oldest first. A window that turns out to hold more than ``MAX_WINDOW_EVENTS`` is read again in
halves, and the window size adapts to the density, so memory stays bounded whatever the backlog.
A checkpoint follows every ``BATCH_SIZE`` events and the end of every window.

**Connect.** A platform's ``/v1/events`` does not include its connected accounts' events; each
account polled is asked with its ``Stripe-Account`` header (concurrently, under the client's one
rate limit), and all accounts share one cursor (event ids are unique across accounts). Which
accounts a poll asks is ``poll_scope``'s to say: not every one, every cycle. A connected account
whose list fails (access revoked, gone, failing after retries) is parked alone and the window goes
on with the others (``poll_parking``): its events are skipped, from a resume point kept for it.

**Same-second versions.** Each batch carries its window (every event listed in it, the ones
already applied in an earlier poll's overlap included), so the reader can compare an object's new
versions with the ones written before (``versions.WindowPlan``).

**Servers without ``types[]``.** A Stripe-compatible server that answers 400 to the ``types[]``
filter is asked again without it, and the events of other types are dropped here; the refusal is
remembered (``EventsListing``) for the rest of the read and reported once as a warning.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.errors import StripeApiError, refuses_parameter
from sync_platform.sources.stripe.poll_parking import PollParking

EVENTS_PATH = "/v1/events"
OVERLAP_SECONDS = 60
MAX_TYPES_PER_REQUEST = 20  # Stripe's limit on types[]
BATCH_SIZE = 100
MAX_WINDOW_EVENTS = 5_000
FIRST_WINDOW_SECONDS = 3_600
MAX_WINDOW_SECONDS = 86_400
PAGE_SIZE = 100

_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


@dataclass
class EventsCursor:
    """Where the poll stands: every event created up to ``cursor`` is applied, except late ones,
    which the next poll finds in its overlap and tells apart by ``recent`` (id -> created)."""

    cursor: int
    recent: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_global(cls, data: Mapping[str, Any]) -> EventsCursor | None:
        cursor = data.get("events_cursor")
        if not isinstance(cursor, int) or isinstance(cursor, bool):
            return None
        raw = data.get("recent_event_ids")
        recent = (
            {str(k): int(v) for k, v in raw.items() if isinstance(v, int)} if isinstance(raw, Mapping) else {}
        )
        return cls(cursor, recent)

    def to_global(self) -> dict[str, Any]:
        return {"events_cursor": self.cursor, "recent_event_ids": dict(self.recent)}

    def apply(self, event: Mapping[str, Any]) -> None:
        created = int(event["created"])
        self.cursor = max(self.cursor, created)
        self.recent[str(event["id"])] = created

    def advance_to(self, second: int, overlap: int) -> None:
        """All events up to ``second`` are applied; forget ids that fell out of the overlap."""
        self.cursor = max(self.cursor, second)
        floor = self.cursor - overlap
        self.recent = {event_id: created for event_id, created in self.recent.items() if created >= floor}


@dataclass(frozen=True, eq=False)
class EventWindow:
    """Every event one window listed (oldest first) and the ids of those not applied before."""

    listed: list[dict[str, Any]]
    fresh_ids: frozenset[str]


@dataclass(frozen=True)
class EventBatch:
    """Events to apply, oldest first, and the cursor once they are applied; ``window`` is the
    window they were listed in, and ``warnings`` what the reader should report."""

    events: list[dict[str, Any]]
    cursor: EventsCursor
    window: EventWindow | None = None
    warnings: tuple[str, ...] = ()


@dataclass
class EventsListing:
    """How ``/v1/events`` is asked during one read: with ``types[]`` until the server refuses it."""

    types_refused: bool = False
    types_accepted: bool = False
    warnings: list[str] = field(default_factory=list)

    def refuse_types(self, reason: str) -> None:
        self.types_refused = True
        self.warnings.append(
            f"The server refuses the `types[]` filter on {EVENTS_PATH} ({reason}); events are listed "
            "without it and filtered here for the rest of this read."
        )

    def take_warnings(self) -> tuple[str, ...]:
        taken, self.warnings = tuple(self.warnings), []
        return taken


class _WindowTooFull(Exception):
    pass


class _TypesRefused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def type_chunks(types: Sequence[str]) -> list[list[str]]:
    ordered = sorted(set(types))
    return [ordered[i : i + MAX_TYPES_PER_REQUEST] for i in range(0, len(ordered), MAX_TYPES_PER_REQUEST)]


async def poll_events(
    client: StripeApiClient,
    accounts: Sequence[StripeAccount],
    types: Sequence[str],
    start: EventsCursor,
    *,
    until: int,
    overlap: int = OVERLAP_SECONDS,
    listing: EventsListing | None = None,
    parking: PollParking | None = None,
) -> AsyncGenerator[EventBatch, None]:
    """Every event of ``types`` created from ``start.cursor - overlap`` to ``until`` (inclusive) not
    applied yet, in batches, oldest first; a parked account asked again (a replay) is read from
    its own resume point (``parking``), which may start the walk earlier."""
    chunks = type_chunks(types)
    listing = listing or EventsListing()
    parking = parking if parking is not None else PollParking()
    state = EventsCursor(start.cursor, dict(start.recent))
    position = parking.begin(max(0, start.cursor - overlap))
    window = FIRST_WINDOW_SECONDS
    while chunks and position <= until:
        end = min(position + window, until + 1)
        try:
            events = await _read_window(
                client,
                [account for account in accounts if parking.asks(account, end)],
                chunks,
                position,
                end,
                limited=end - position > 1,
                listing=listing,
                parking=parking,
            )
        except _WindowTooFull:
            window = max(1, (end - position) // 2)
            continue
        fresh = [event for event in events if str(event["id"]) not in state.recent]
        listed = EventWindow(events, frozenset(str(event["id"]) for event in fresh))
        for offset in range(0, len(fresh), BATCH_SIZE):
            batch = fresh[offset : offset + BATCH_SIZE]
            for event in batch:
                state.apply(event)
            cursor = EventsCursor(state.cursor, dict(state.recent))
            yield EventBatch(batch, cursor, listed, listing.take_warnings() + parking.take_warnings())
        parking.window_read(end)  # before the checkpoint that moves the cursor past the window
        state.advance_to(end - 1, overlap)
        warnings = listing.take_warnings() + parking.take_warnings()
        yield EventBatch([], EventsCursor(state.cursor, dict(state.recent)), None, warnings)
        position = end
        if len(events) * 4 < MAX_WINDOW_EVENTS:
            window = min(MAX_WINDOW_SECONDS, window * 2)
        elif len(events) * 2 > MAX_WINDOW_EVENTS:
            window = max(1, window // 2)


async def _read_window(
    client: StripeApiClient,
    accounts: Sequence[StripeAccount],
    chunks: list[list[str]],
    gte: int,
    lt: int,
    *,
    limited: bool,
    listing: EventsListing,
    parking: PollParking,
) -> list[dict[str, Any]]:
    """Every event created in ``[gte, lt)``, oldest first (lists are read newest first, then turned).

    The lists (one per account and ``types[]`` chunk) are read concurrently, at most
    ``client.max_concurrency`` at once under the client's one rate limit, so a cycle over many
    accounts takes the time of their pages at the rate rather than a round trip per account;
    they are merged in a fixed order, so the result does not depend on which answered first.
    Once the server has refused ``types[]``, each account is listed once without it and the
    events of other types are dropped (a refusal met here restarts the window that way); until
    the server has answered one ``types[]`` list, the first list is asked alone, so a server that
    refuses the filter refuses it once, not once per list in flight. A connected account's failed
    list does not stop the others: once they are in, ``parking`` parks the account (its lists of
    the window dropped) or raises what is not that account's alone.
    """
    wanted = {event_type for chunk in chunks for event_type in chunk}
    queries = [
        (account, chunk) for account in accounts for chunk in ([None] if listing.types_refused else chunks)
    ]
    total = 0
    failures: dict[str, StripeApiError] = {}  # connected account -> its failure in this window

    async def read(query: tuple[StripeAccount, list[str] | None]) -> list[dict[str, Any]]:
        account, chunk = query
        if account.id in failures:
            return []
        try:
            return await read_list(account, chunk)
        except StripeApiError as error:
            if account.stripe_account is None:
                raise  # the platform's own failure fails the poll
            failures.setdefault(account.id, error)
            return []

    async def read_list(account: StripeAccount, chunk: list[str] | None) -> list[dict[str, Any]]:
        nonlocal total
        listed: list[dict[str, Any]] = []
        params: dict[str, Any] = {"created": {"gte": gte, "lt": lt}, "limit": PAGE_SIZE}
        if chunk is not None:
            params["types"] = chunk
        while True:
            try:
                body = (await client.get(EVENTS_PATH, params, account=account.stripe_account)).data
            except StripeApiError as error:
                if chunk is None or not refuses_parameter(error, "types"):
                    raise
                raise _TypesRefused(error.stripe_message) from error
            listing.types_accepted = listing.types_accepted or chunk is not None
            data = body.get("data") or []
            listed.extend(data)
            total += len(data)
            if limited and total > MAX_WINDOW_EVENTS:
                raise _WindowTooFull
            if not body.get("has_more") or not data:
                break
            params = {**params, "starting_after": data[-1]["id"]}
        if chunk is None:
            listed = [event for event in listed if event.get("type") in wanted]
        listed.reverse()
        return listed

    if not queries:
        return []
    try:
        if listing.types_refused or listing.types_accepted:
            lists = await each_concurrently(queries, read, client.max_concurrency)
        else:  # the read's first request finds out whether the server takes types[], alone
            lists = [
                await read(queries[0]),
                *await each_concurrently(queries[1:], read, client.max_concurrency),
            ]
    except _TypesRefused as refused:
        if not listing.types_refused:
            listing.refuse_types(refused.reason)
        return await _read_window(
            client, accounts, chunks, gte, lt, limited=limited, listing=listing, parking=parking
        )
    parking.settle(failures, accounts, gte)
    kept = [listed for (account, _), listed in zip(queries, lists, strict=True) if account.id not in failures]
    return list(heapq.merge(*kept, key=lambda event: int(event["created"])))


async def each_concurrently(
    items: Sequence[_Item], work: Callable[[_Item], Awaitable[_Result]], limit: int
) -> list[_Result]:
    """``work`` of every item, in the items' order, at most ``limit`` running at once.

    ``limit`` workers take items in turn (not one task per item: 10,000 accounts must not mean
    10,000 tasks waiting on a semaphore). The first failure cancels the rest and is raised as it
    is, not wrapped in an exception group, so callers catch what ``work`` raises.
    """
    results: list[_Result | None] = [None] * len(items)
    pending = iter(enumerate(items))

    async def worker() -> None:
        for index, item in pending:
            results[index] = await work(item)

    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(max(1, limit), len(items))):
                group.create_task(worker())
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return cast(list[_Result], results)
