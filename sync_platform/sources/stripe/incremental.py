"""Incremental mode: keeps streams current from ``/v1/events``, with the 25-day horizon guard.

A poll starts at ``global.events_cursor`` (set when a backfill starts, or seeded by the reconcile
lane) and checkpoints only global state, never a per-stream one, so backfill checkpoints are never
overwritten (reference bug #1). Without a cursor there is nothing to resume from: the poll starts
now, with a warning, since earlier changes can only come from a backfill.

**The horizon guard.** Stripe keeps events for 30 days. A cursor older than 25 days (a paused
pipeline, a long outage) may already have lost events, and polling would lose them silently
(reference bug #10). Instead the affected streams are backfilled again, whole: a "ranged"
re-backfill would need to know which objects changed, which is exactly what the lost events said,
and a list only tells when objects were created. The re-backfill's per-stream checkpoints live
in ``state.streams`` as any backfill's do, and ``global.rebackfill = {started_at, streams}`` marks
it until every stream has finished (or been skipped: the account cannot read it); then the poll
resumes from ``started_at``, so changes made during the re-backfill are applied as events.

**Which accounts.** The poll asks ``polled`` (``poll_scope``: the platform and the Connect accounts
webhooks do not cover, or all of them); a re-backfill reads every account. A reconcile's replay
polls every account and notes each one's newest event (``replay_newest``), which the reconcile
compares with what webhooks delivered (``poll_scope.after_replay``).

**One account's failure is its own.** A connected account whose ``/v1/events`` fails (access
revoked, the account gone, failing after retries) is parked alone with its cause and a resume
point (``poll_parking``): the other accounts' events are applied and the cursor advances, later
polls skip it, and the reconcile's replay asks it again from where it stopped. The platform
account's failure still fails the poll, every stream with it.

Records come from ``event_records``; an object whose newest versions in a window tie (two
different versions of one second, counting those an earlier poll applied) is written as fetched
from Stripe instead, once per window (``versions.WindowPlan``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from contextlib import aclosing
from typing import Any

from sync_platform.protocol import (
    ConfiguredStream,
    LogLevel,
    Message,
    connection_status,
    log,
    stream_complete,
    stream_error,
    stream_start,
    stream_state,
)
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.backfill import BackfillRunner
from sync_platform.sources.stripe.backfill_plan import plan_stream
from sync_platform.sources.stripe.backfill_state import SharedParts
from sync_platform.sources.stripe.catalog import StripeStreamDefinition
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.errors import ErrorScope, StripeApiError, error_scope
from sync_platform.sources.stripe.event_records import (
    EventRecord,
    complete_event_records,
    event_records,
)
from sync_platform.sources.stripe.events import (
    OVERLAP_SECONDS,
    EventsCursor,
    EventsListing,
    EventWindow,
    poll_events,
)
from sync_platform.sources.stripe.global_state import GlobalState
from sync_platform.sources.stripe.poll_parking import PollParking
from sync_platform.sources.stripe.poll_scope import (
    REPLAY,
    REPLAY_NEWEST,
    account_seconds,
    newest_by_account,
)
from sync_platform.sources.stripe.versions import WindowPlan, fetch_current, settle

logger = logging.getLogger(__name__)

HORIZON_SECONDS = 25 * 86_400
REBACKFILL_KEY = "rebackfill"
Selected = Sequence[tuple[StripeStreamDefinition, ConfiguredStream]]


class IncrementalRunner:
    """Applies new events to ``streams`` (or re-backfills them first); iterate ``run()``."""

    def __init__(
        self,
        client: StripeApiClient,
        streams: Selected,
        *,
        accounts: Sequence[StripeAccount],
        polled: Sequence[StripeAccount] | None = None,
        stored_streams: Mapping[str, Any],
        global_state: GlobalState,
        now: int,
        max_concurrency: int,
        backfill_limit: int | None,
    ) -> None:
        self.client = client
        self.streams = list(streams)
        self.accounts = list(accounts)  # a re-backfill reads them all
        self.polled = list(polled) if polled is not None else self.accounts  # ``poll_scope``
        self.stored_streams = stored_streams
        self.global_state = global_state
        self.now = now
        self.max_concurrency = max_concurrency
        self.backfill_limit = backfill_limit
        self.connection_failed = False
        self._poll_failed = False
        self._listing = EventsListing()  # what the server accepts on /v1/events, for this read

    @property
    def names(self) -> list[str]:
        return [definition.name for definition, _ in self.streams]

    async def run(self) -> AsyncGenerator[Message, None]:
        marker = self.global_state.get(REBACKFILL_KEY)
        cursor = EventsCursor.from_global(self.global_state.snapshot())
        if marker is None and cursor is not None and self.now - cursor.cursor > HORIZON_SECONDS:
            age_days = (self.now - cursor.cursor) / 86_400
            warning = (
                f"The events cursor is {age_days:.0f} days old, beyond the {HORIZON_SECONDS // 86_400}-day "
                "horizon: events may be lost, so streams "
                f"{', '.join(self.names)} are backfilled again before polling resumes."
            )
            logger.warning(warning)
            yield log(LogLevel.WARN, warning, {"streams": self.names, "events_cursor": cursor.cursor})
            marker = {"started_at": self.now, "streams": []}
        if isinstance(marker, dict):
            async for message in self._rebackfill(marker):
                yield message
            return
        for name in self.names:
            yield stream_start(name)
        if cursor is None:
            warning = (
                "No events cursor yet: polling starts now. Changes made before now reach the "
                "destination only through a backfill."
            )
            yield log(LogLevel.WARN, warning, {"streams": self.names})
            yield self.global_state.update(EventsCursor(self.now).to_global())
        else:
            async for message in self._poll(cursor, self.names):
                yield message
            if self._poll_failed:
                return
        for name in self.names:
            yield stream_complete(name)

    async def _rebackfill(self, marker: dict[str, Any]) -> AsyncGenerator[Message, None]:
        started_at = int(marker.get("started_at", self.now))
        known = set(marker.get("streams") or [])
        plans = []
        shared = SharedParts()  # the pieces every stream of an account repeats, made once
        for definition, configured in self.streams:
            restart = definition.name not in known
            plan, warnings = plan_stream(
                definition,
                configured,
                self.stored_streams.get(definition.name),
                self.accounts,
                now=started_at,
                backfill_limit=self.backfill_limit,
                restart=restart,
                shared=shared,
            )
            for warning in warnings:
                yield log(LogLevel.WARN, warning, {"stream": definition.name})
            if restart:  # the fresh checkpoint goes out before the marker that makes it count
                yield stream_state(definition.name, plan.checkpoint())
            plans.append(plan)
        marker = {"started_at": started_at, "streams": sorted(known | set(self.names))}
        yield self.global_state.update({REBACKFILL_KEY: marker})
        runner = BackfillRunner(
            self.client, plans, max_concurrency=self.max_concurrency, finish_streams=False
        )
        async with aclosing(runner.run()) as backfill:
            async for message in backfill:
                yield message
        if runner.connection_failed:
            self.connection_failed = True
            return
        finished = [name for name in self.names if name in runner.completed]
        # A stream the account cannot read (skipped) must not hold the poll back for the others.
        if all(name in runner.completed or name in runner.skipped for name in self.names):
            resumed = EventsCursor(started_at)
            yield self.global_state.update(resumed.to_global(), remove=(REBACKFILL_KEY,))
            async for message in self._poll(resumed, finished):
                yield message
            if self._poll_failed:
                return
        for name in finished:
            yield stream_complete(name)

    async def _poll(self, start: EventsCursor, names: list[str]) -> AsyncGenerator[Message, None]:
        """Records and global checkpoints of the events since ``start``, with the accounts parked
        (``poll_parking``) in every checkpoint; on a failure that is not one connected account's,
        one error status per stream (the poll is shared, so it fails them all)."""
        selected = set(names)
        types = [
            event_type
            for definition, _ in self.streams
            if definition.name in selected
            for event_type in definition.event_types
        ]
        platform = self.accounts[0].id
        replaying = self.global_state.get(REPLAY) is True
        newest = account_seconds(self.global_state.get(REPLAY_NEWEST)) if replaying else {}
        parking = PollParking.from_global(
            self.global_state.snapshot(), self.accounts, replaying=replaying, now=self.now
        )

        def records_of(event: Mapping[str, Any]) -> list[EventRecord]:
            return event_records(event, selected=selected, platform_account=platform)

        window: EventWindow | None = None
        plan: WindowPlan | None = None
        try:
            batches = poll_events(
                self.client,
                self.polled,
                types,
                start,
                until=self.now,
                overlap=OVERLAP_SECONDS,
                listing=self._listing,
                parking=parking,
            )
            async with aclosing(batches):
                async for batch in batches:
                    for warning in batch.warnings:
                        logger.warning(warning)
                        yield log(LogLevel.WARN, warning, {"streams": names})
                    if batch.window is not None and batch.window is not window:
                        window = batch.window
                        plan = WindowPlan(window.listed, window.fresh_ids, records_of)
                    records: list[EventRecord] = []
                    if plan is not None and batch.events:
                        records = [item for event in batch.events for item in plan.records(event)]
                        fetched = await fetch_current(self.client, plan.fetches_in(batch.events))
                        records = settle(records, fetched)
                    await complete_event_records(self.client, records)
                    for item in records:
                        yield item.message()
                    checkpoint = {**batch.cursor.to_global(), **parking.state()}
                    if replaying and (noted := newest_by_account(newest, batch.events)) is not None:
                        newest = checkpoint[REPLAY_NEWEST] = noted  # what a webhook should have brought
                    yield self.global_state.update(checkpoint)
            parking.finish(self.now)  # read through to now: a parked account asked again is healthy
            if parking.state():
                yield self.global_state.update(parking.state())
        except StripeApiError as error:
            self._poll_failed = True
            if error_scope(error) is ErrorScope.CONNECTION:
                self.connection_failed = True
                yield connection_status(False, str(error), error.failure_kind)
                return
            for name in names:
                yield stream_error(name, f"Polling events failed: {error}", error.failure_kind)
