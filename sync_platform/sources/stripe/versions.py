"""Same-second versions: when events cannot order two versions of an object, ask Stripe.

An event's record is stamped with the object's ``updated`` (whole seconds), else with the event's
``created`` (whole seconds) plus half a second (``event_records``). Stripe often reports several
changes of one object within a second (``invoice.created``, ``.finalized``, ``.paid``...), and
then two *different* versions carry the same stamp. Nothing in an event says which came last
(ids and list order within a second are not a clock, and webhooks arrive in any order), and the
destination settles a tie by content, i.e. arbitrarily. So a tie is never written as one:

**The rule.** Call an object's *version second* the whole second its event stamp comes from. When
the versions of an object's latest second ``S`` are not all the same (by a digest of the event's
object), the object is fetched (``GET <list path>/<id>``) once second ``S`` is over, and that
answer is written stamped ``S + 0.75`` (a 404 ``resource_missing`` or ``deleted: true`` answer is a
tombstone, stamped the same). Why that stamp:

- The fetch is made after ``S`` ended (the source waits until its clock reads ``S + 1 +
  CLOSE_MARGIN``; the margin covers this host's clock running ahead of Stripe's), so the answer
  holds every change of second ``S``, including any whose event has not arrived yet. It may hold
  later changes too; that is harmless, because each of those has its own event.
- ``S + 0.75`` beats every version of second ``S``: its events (``S + 0.5``), a page listed during
  ``S`` (``S``) and an ``updated`` of ``S``, including the tied ones that arrive later.
- It loses to every version of a later second (an event ``S' + 0.5``, a page listed at ``S' >= S +
  1``, an ``updated`` of ``S'``), all of which are genuinely as new or newer. Stamping with the
  time of the fetch instead would tie with a page listed in that same second and could beat an
  event of that second made after the fetch; stamping ``S + 0.75`` without waiting for ``S`` to
  end could beat a change made later in ``S``.
- Two fetches for the same second both happened after it ended, so they differ only by changes
  of later seconds, whose own events (stamped ``>= S + 1.5``) decide the row.

A tombstone among the versions of ``S`` needs no fetch (a tombstone wins at equal times and Stripe
never revives a deleted object), nor does a second older than a version the destination is known
to hold already (those versions lose anyway).

**Where the other versions are seen.** A tie within one batch is found in the batch. Across
batches:

- The events poll (and the reconcile lane's replay) reads whole seconds: a window is read
  entirely before it is applied, and a later poll re-reads the last ``OVERLAP_SECONDS``, where an
  event that became listable late is found next to its already-applied siblings. The window's
  already-applied events are compared with its new ones, for free.
- Pushed events (webhooks) arrive in any order and in any batch, so the source remembers, in the
  global state (``recent_versions``), the version second and digest it last wrote for each object
  it touched within ``MEMORY_SECONDS`` of the newest event it applied. A pushed event of a second
  that memory covers is compared with what it remembers; one older than that (a webhook retried
  after an outage, or the first batch after an upgrade) is **late**: memory cannot prove no other
  version of its second was written, so its object is fetched.

Cost: nothing in the common case (one version per object per second, or identical snapshots such
as ``invoice.paid`` and ``invoice.payment_succeeded``); one ``GET`` per tied object per batch
(deduplicated, through the client's rate limit, plus the pages of any nested list it cuts short),
and a wait of at most ``1 + CLOSE_MARGIN`` seconds when the tied second has only just passed.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync_platform.engine.clock import Clock
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.errors import StripeApiError
from sync_platform.sources.stripe.event_records import EventRecord, ObjectKey, object_digest
from sync_platform.sources.stripe.json_schema import ACCOUNT_ID_FIELD, UPDATED_AT_FIELD

FETCHED_LEAD = 0.75  # a fetched version of second S is stamped S + 0.75 (see the module docstring)
CLOSE_MARGIN = 1.0  # seconds past the end of S before fetching: this host's clock may lead Stripe's
MEMORY_KEY = "recent_versions"
MEMORY_SECONDS = 300


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an object as far as ordering goes: its second, and its digest (None when it
    is settled: a tombstone, or the object fetched after its second ended, which no other version
    of that second can beat)."""

    second: int
    digest: str | None

    @classmethod
    def of(cls, item: EventRecord) -> Version:
        return cls(item.second, None if item.deleted else item.digest)


def _by_key(items: Iterable[EventRecord]) -> dict[ObjectKey, list[EventRecord]]:
    grouped: dict[ObjectKey, list[EventRecord]] = {}
    for item in items:
        grouped.setdefault(item.key, []).append(item)
    return grouped


def tied_second(
    fresh: Sequence[Version], known: Iterable[Version] = (), *, late_before: int | None = None
) -> int | None:
    """The second whose versions must be settled by fetching the object, or None.

    ``fresh`` are the versions about to be written, ``known`` the ones written before that the
    destination may hold; ``late_before`` is the second below which ``known`` may be incomplete.
    """
    second = max(version.second for version in fresh)
    known = list(known)
    if any(version.second > second for version in known):
        return None  # a later version is already written: these lose whatever they are
    same = [version for version in (*fresh, *known) if version.second == second]
    if any(version.digest is None for version in same):
        return None  # a tombstone or a fetched version of that second beats them all
    if late_before is not None and second < late_before and not any(v.second == second for v in known):
        return second  # a version of this second may have been written and forgotten
    return second if len({version.digest for version in same}) > 1 else None


def plan_fetches(
    fresh: Iterable[EventRecord],
    known: Mapping[ObjectKey, Sequence[Version]] | None = None,
    *,
    late_before: int | None = None,
) -> dict[ObjectKey, tuple[EventRecord, int]]:
    """The objects of ``fresh`` to fetch, each with a record to fetch it by and its tied second."""
    plan: dict[ObjectKey, tuple[EventRecord, int]] = {}
    for key, items in _by_key(fresh).items():
        second = tied_second(
            [Version.of(item) for item in items], (known or {}).get(key, ()), late_before=late_before
        )
        if second is not None:
            plan[key] = (items[-1], second)
    return plan


async def wait_until_over(clock: Clock, second: int) -> None:
    """Sleep until ``second`` is surely over at Stripe (``CLOSE_MARGIN`` after its end, here)."""
    delay = second + 1 + CLOSE_MARGIN - clock.now().timestamp()
    if delay > 0:
        await clock.sleep(delay)


async def _fetch(client: StripeApiClient, item: EventRecord, second: int) -> EventRecord:
    definition = item.definition
    object_id = str(item.data["id"])
    path = definition.retrieve_path.replace("{id}", urllib.parse.quote(object_id, safe=""))
    try:
        data: dict[str, Any] = (await client.get(path, account=item.stripe_account)).data
    except StripeApiError as error:
        if error.status != 404 or error.code != "resource_missing":
            raise
        data = {"id": object_id, "object": definition.object_name, "deleted": True}
    record_data = {
        **data,
        UPDATED_AT_FIELD: second + FETCHED_LEAD,
        ACCOUNT_ID_FIELD: item.data[ACCOUNT_ID_FIELD],
    }
    deleted = data.get("deleted") is True
    return EventRecord(definition, record_data, deleted, item.stripe_account, second, object_digest(data))


async def fetch_current(
    client: StripeApiClient, plan: Mapping[ObjectKey, tuple[EventRecord, int]]
) -> dict[ObjectKey, EventRecord]:
    """Each planned object as Stripe has it now, once its tied second is over (concurrently; the
    client holds the requests to its rate limit). The first failure is raised as it is."""
    if not plan:
        return {}
    await wait_until_over(client.clock, max(second for _, second in plan.values()))
    fetched: dict[ObjectKey, EventRecord] = {}

    async def one(key: ObjectKey, item: EventRecord, second: int) -> None:
        fetched[key] = await _fetch(client, item, second)

    try:
        async with asyncio.TaskGroup() as group:
            for key, (item, second) in plan.items():
                group.create_task(one(key, item, second))
    except BaseExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return fetched


def settle(items: Sequence[EventRecord], fetched: Mapping[ObjectKey, EventRecord]) -> list[EventRecord]:
    """``items`` with the records of each fetched object replaced by its fetched version, written
    where its last record was (so a checkpoint after that record covers it)."""
    if not fetched:
        return list(items)
    last = {item.key: position for position, item in enumerate(items)}
    settled: list[EventRecord] = []
    for position, item in enumerate(items):
        if item.key not in fetched:
            settled.append(item)
        elif last[item.key] == position:
            settled.append(fetched[item.key])
    return settled


# --- the poll: a window's listed events ------------------------------------------------------


class WindowPlan:
    """The records of one window of listed events, and which objects to fetch in which batch.

    ``listed`` is every event the window listed, ``fresh_ids`` the ones not applied before (the
    rest were applied by an earlier poll and are listed again in its overlap). An object is
    fetched in the batch holding its last fresh event.
    """

    def __init__(
        self,
        listed: Sequence[Mapping[str, Any]],
        fresh_ids: frozenset[str],
        records_of: Callable[[Mapping[str, Any]], list[EventRecord]],
    ) -> None:
        self._records: dict[str, list[EventRecord]] = {}
        fresh: list[EventRecord] = []
        known: dict[ObjectKey, list[Version]] = {}
        owner: dict[ObjectKey, str] = {}
        for event in listed:
            event_id = str(event["id"])
            items = records_of(event)
            if event_id in fresh_ids:
                self._records[event_id] = items
                fresh.extend(items)
                for item in items:
                    owner[item.key] = event_id
            else:
                for item in items:
                    known.setdefault(item.key, []).append(Version.of(item))
        self._plan = plan_fetches(fresh, known)
        self._owner = owner

    def records(self, event: Mapping[str, Any]) -> list[EventRecord]:
        return self._records.get(str(event["id"]), [])

    def fetches_in(self, events: Iterable[Mapping[str, Any]]) -> dict[ObjectKey, tuple[EventRecord, int]]:
        ids = {str(event["id"]) for event in events}
        return {key: planned for key, planned in self._plan.items() if self._owner[key] in ids}


# --- pushed events: what was written lately -----------------------------------------------------


def _memory_key(key: ObjectKey) -> str:
    stream, account, object_id = key
    return f"{stream}/{account}/{object_id}"


class VersionMemory:
    """The version second (and digest) last written per object, for ``MEMORY_SECONDS`` behind the
    newest event applied; complete for seconds from ``since`` on.

    Kept in the global state under ``recent_versions``::

        {"since": 1767225600, "latest": 1767225900,
         "objects": {"customer/acct_…/cus_…": [1767225899, "9f86d081884c7d65"], ...}}

    A stored state without it (a new pipeline, or one written before this existed) starts empty,
    complete only after the last pushed event it records (``last_event``): nothing older can be
    vouched for.
    """

    def __init__(self, since: int, latest: int, entries: dict[str, Version]) -> None:
        self.since = since
        self.latest = latest
        self.entries = entries

    @classmethod
    def from_global(cls, data: Mapping[str, Any]) -> VersionMemory:
        raw = data.get(MEMORY_KEY)
        if isinstance(raw, Mapping) and _is_int(raw.get("since")) and isinstance(raw.get("objects"), Mapping):
            entries: dict[str, Version] = {}
            for key, value in raw["objects"].items():
                if (
                    isinstance(value, list)
                    and len(value) == 2
                    and _is_int(value[0])
                    and (value[1] is None or isinstance(value[1], str))
                ):
                    entries[str(key)] = Version(value[0], value[1])
            latest = raw.get("latest")
            return cls(raw["since"], latest if _is_int(latest) else raw["since"], entries)
        last = data.get("last_event")
        created = last.get("created") if isinstance(last, Mapping) else None
        since = created + 1 if _is_int(created) else 0
        return cls(since, since, {})

    def known(self, keys: Iterable[ObjectKey]) -> dict[ObjectKey, list[Version]]:
        found: dict[ObjectKey, list[Version]] = {}
        for key in keys:
            version = self.entries.get(_memory_key(key))
            if version is not None:
                found[key] = [version]
        return found

    def plan(self, fresh: Sequence[EventRecord]) -> dict[ObjectKey, tuple[EventRecord, int]]:
        known = self.known({item.key for item in fresh})
        return plan_fetches(fresh, known, late_before=self.since)

    def remember(
        self,
        written: Sequence[EventRecord],
        fetched: Mapping[ObjectKey, EventRecord],
        event_seconds: Iterable[int],
    ) -> None:
        """Record what a batch wrote (``written``: its event records, before settling), then forget
        what fell more than ``MEMORY_SECONDS`` behind the newest event."""
        for key, items in _by_key(written).items():
            second = max(item.second for item in items)
            if key in fetched:
                version = Version(fetched[key].second, None)
            else:
                same = [Version.of(item) for item in items if item.second == second]
                settled = any(v.digest is None for v in same)
                version = Version(second, None if settled else same[-1].digest)
            name = _memory_key(key)
            old = self.entries.get(name)
            if (
                old is None
                or version.second > old.second
                or (version.second == old.second and version.digest is None)
            ):
                self.entries[name] = version
        seconds = [*event_seconds, *(item.second for item in written)]
        if seconds:
            self.latest = max(self.latest, *seconds)
        self.since = max(self.since, self.latest - MEMORY_SECONDS)
        self.entries = {name: v for name, v in self.entries.items() if v.second >= self.since}

    def to_global(self) -> dict[str, Any]:
        return {
            "since": self.since,
            "latest": self.latest,
            "objects": {name: [v.second, v.digest] for name, v in self.entries.items()},
        }


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
