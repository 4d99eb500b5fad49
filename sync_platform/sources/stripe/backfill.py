"""The backfill: lists every planned stream by time ranges, concurrently, one checkpoint per page.

One coordinator (the ``run`` generator) owns all state; fetches run as tasks that only do HTTP.
When a page arrives, the coordinator decides what replaces its range (``subdivision``), emits the
page's records, then the stream's checkpoint, then ``range_complete`` for what is now fully read,
and only then schedules the range's next fetch. So every emitted checkpoint covers exactly the
records emitted before it, and a range never has more than one page that is fetched but not yet
checkpointed: a run killed at any point and resumed from its last checkpoint refetches at most
one page per range that was in flight, and loses nothing.

Concurrency: at most ``max_concurrency`` fetches and as many streams at once (one stream at a time
when it is 1), one rate limiter for all (inside the client). A range's first request is one page
over the whole range, so a stream of at most a page costs one request; only a page that says
``has_more`` may split the unread rest (``subdivision.split_parts``: in as many parts as the
page's density says hold two pages each), and only while the stream has fewer open ranges than its
share of the useful concurrency (rate x round trip, divided among every stream of the run that is
not done, waiting ones included), so many small streams run side by side instead of one stream
taking every slot. Once a lane's pages have shown a density, a waiting range that density says
holds several pages is split without a request when the lane falls below its share
(``_rebalance``). Ranges are only made on evidence. A stream with a ``backfill_limit`` reads
newest first without splitting and stops at exactly that many objects.

Failures stay within their stream, and with Connect within their account: a stream Stripe will
not list for an account is skipped for it (``stream_status: skip`` when no account can), any other
failure parks that account's lane with its cause (``account_failures``; the lane stays open for a
later read) while the other accounts complete, and a stream of one lane ends with
``stream_status: error`` after its last good checkpoint. A refused key ends the read with
``connection_status: failed``. All carry the failure's kind (``failure_kind``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
from collections import deque
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

from sync_platform.errors import FailureKind, failure_kind_of
from sync_platform.protocol import (
    LogLevel,
    Message,
    OpenTimeRange,
    connection_status,
    from_unix,
    log,
    record,
    stream_complete,
    stream_error,
    stream_range_complete,
    stream_skip,
    stream_start,
    stream_state,
    utc_now,
)
from sync_platform.redaction import redact
from sync_platform.sources.stripe.backfill_plan import StreamPlan
from sync_platform.sources.stripe.backfill_queue import StreamRun, is_chain, lanes_summary
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.errors import (
    ErrorScope,
    StripeApiError,
    error_scope,
    refuses_parameter,
)
from sync_platform.sources.stripe.pages import PAGE_SIZE, FetchedPage, fetch_page
from sync_platform.sources.stripe.subdivision import (
    MIN_SPLIT_SECONDS,
    PAGES_PER_PART,
    Range,
    after_page,
    page_density,
    split,
    split_parts,
)

logger = logging.getLogger(__name__)


ACCOUNT_INVALID = "account_invalid"  # Stripe's code when the platform lost access to an account


def _splits_anywhere(plan: StreamPlan) -> bool:
    """Whether a waiting range can be split between pages: its list filters by ``created`` and its
    objects carry ``created``, so a range with a cursor always ends just above the cursor."""
    definition = plan.definition
    return definition.supports_created_filter and definition.has_created_field


def _replaced(remaining: tuple[Range, ...], part: Range, parts: tuple[Range, ...]) -> tuple[Range, ...]:
    """``remaining`` with ``part`` replaced by ``parts``, in its place."""
    position = remaining.index(part)
    return remaining[:position] + parts + remaining[position + 1 :]


@dataclass(frozen=True, eq=False)
class _Job:
    run: StreamRun
    account: str
    part: Range
    order: int
    filtered: bool  # the request filtered by `created` (the list is then in `created` order)


class BackfillRunner:
    """Runs the backfill of ``plans``; iterate ``run()`` for its messages.

    After the run, ``completed`` and ``skipped`` name the streams that finished that way, and
    ``connection_failed`` says whether the key was refused. With ``finish_streams=False`` the
    runner leaves out the ``complete`` statuses (the caller goes on with those streams).
    """

    def __init__(
        self,
        client: StripeApiClient,
        plans: Sequence[StreamPlan],
        *,
        max_concurrency: int,
        finish_streams: bool = True,
    ) -> None:
        self.client = client
        self.max_concurrency = max_concurrency
        self.finish_streams = finish_streams
        self.completed: set[str] = set()
        self.skipped: set[str] = set()
        # Connect accounts parked in this read, with their cause: their lanes stay open for a later
        # read, the other accounts complete (a revoked account is a 403 `account_invalid`)
        self.account_failures: dict[str, tuple[str, FailureKind]] = {}
        self.connection_failed = False
        self._pending = deque(plans)
        self._pending_open = sum(plan.lanes.open_count() for plan in plans)
        self._active: list[StreamRun] = []
        self._tasks: dict[asyncio.Task[FetchedPage], _Job] = {}
        self._order = itertools.count()
        self._turn = 0

    async def run(self) -> AsyncGenerator[Message, None]:
        try:
            while True:
                for message in self._activate():
                    yield message
                self._launch()
                if not self._tasks:
                    for message in self._abandon_idle():
                        yield message
                    if not self._pending:
                        return
                    continue
                done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: self._tasks[t].order):
                    job = self._tasks.pop(task)
                    for message in self._handle(job, task):
                        yield message
                    if self.connection_failed:
                        return
        finally:
            await self._cancel([*self._tasks])

    # --- scheduling -------------------------------------------------------------------------------

    def _activate(self) -> list[Message]:
        """Start streams while there is room: ``start`` first, and the stream's ranges queued."""
        messages: list[Message] = []
        while self._pending and len(self._active) < self.max_concurrency:
            plan = self._pending.popleft()
            run = StreamRun(plan)
            self._pending_open -= run.open_count
            window = plan.lanes.union()
            time_range = OpenTimeRange(gte=from_unix(window.gte), lt=from_unix(window.lt))
            messages.append(stream_start(plan.name, time_range))
            self._active.append(run)
            if not run.has_ready:  # nothing left: checkpoint a re-aimed range, then complete
                if plan.changed:
                    messages.append(stream_state(plan.name, plan.checkpoint()))
                messages.extend(self._finish_if_done(run))
        return messages

    def _launch(self) -> None:
        """Start fetches up to the concurrency bound: chains first, then the streams in turn."""
        while len(self._tasks) < self.max_concurrency:
            picked = self._next_ready()
            if picked is None:
                return
            run, account, part = picked
            plan = run.plan
            task = asyncio.create_task(
                fetch_page(
                    self.client,
                    plan.definition,
                    part,
                    account_id=account,
                    stripe_account=plan.accounts[account].stripe_account,
                    urgent=is_chain(part),
                ),
                name=f"backfill {plan.name} {account} [{part.gte}, {part.lt})",
            )
            filtered = plan.definition.supports_created_filter
            self._tasks[task] = _Job(run, account, part, next(self._order), filtered)

    def _next_ready(self) -> tuple[StreamRun, str, Range] | None:
        for run in self._active:
            if (entry := run.pop_chain()) is not None:
                return run, *entry
        while candidates := [run for run in self._active if run.has_waiting]:
            run = candidates[self._turn % len(candidates)]
            self._turn += 1
            if (entry := run.pop()) is not None:
                return run, *entry
        return None

    def _abandon_idle(self) -> list[Message]:
        """Streams with nothing queued and nothing in flight that have not finished: impossible
        by construction, but a stream must never be left without a terminal status."""
        messages: list[Message] = []
        for run in list(self._active):
            if not run.finished:
                self._retire(run)
                messages.append(
                    stream_error(
                        run.plan.name, "The backfill stopped with ranges left to read.", FailureKind.INTERNAL
                    )
                )
        return messages

    def _target(self) -> int:
        """Ranges a lane may keep open: its share of the useful concurrency among the lanes not
        done, of started streams and of streams still waiting to start (each needs a request)."""
        open_lanes = max(1, self._pending_open + sum(run.open_count for run in self._active))
        return max(1, math.ceil(self.client.useful_concurrency() / open_lanes))

    # --- one finished fetch ----------------------------------------------------------------------

    def _handle(self, job: _Job, task: asyncio.Task[FetchedPage]) -> list[Message]:
        run = job.run
        if run.finished or task.cancelled() or job.account in run.skipped:
            return []
        error = task.exception()
        if error is not None:
            return self._fail(job, error)
        fetched = task.result()
        plan = run.plan
        lane = plan.lanes[job.account]
        if job.part not in lane.remaining:  # finished before its cancellation took (the lane was capped)
            return []
        capped = plan.backfill_limit is not None and lane.listed + len(fetched.objects) >= plan.backfill_limit
        objects = fetched.objects
        if capped:
            assert plan.backfill_limit is not None  # narrowed for the type checker
            objects = objects[: max(0, plan.backfill_limit - lane.listed)]
        # Counted while the lane still has ranges: page snapshots read finished lanes' counts from
        # the table itself (``LaneTable.lend_counts``), which copies them first if a lane with no
        # ranges left is given another count (80 KB a stream at 10,000 accounts, each time).
        lane.listed += len(objects)
        if capped:
            lane.remaining = ()
            self._drop_lane_work(run, job.account)
            completed = None
        else:
            parts = 1
            if plan.backfill_limit is None:
                room = self._target() - len(lane.remaining) + 1
                parts = split_parts(job.part, fetched.page, room=room, page_size=PAGE_SIZE)
                density = page_density(job.part, fetched.page)
                if density is not None:
                    run.density[job.account] = density
            outcome = after_page(job.part, fetched.page, parts=parts, ordered_by_created=job.filtered)
            lane.remaining = _replaced(lane.remaining, job.part, outcome.remaining)
            completed = outcome.completed
        run.settle(job.account)
        self._rebalance(run, job.account)
        emitted_at = utc_now()
        messages: list[Message] = [record(plan.name, obj, emitted_at=emitted_at) for obj in objects]
        messages.append(stream_state(plan.name, plan.snapshot(changed=(job.account,))))
        if completed is not None:
            messages.append(
                stream_range_complete(plan.name, from_unix(completed.gte), from_unix(completed.lt))
            )
        # The range goes on only now that its checkpoint is out.
        self._queue_lane(run, job.account)
        messages.extend(self._finish_if_done(run))
        return messages

    def _in_flight(self, run: StreamRun, account: str) -> set[Range]:
        return {job.part for job in self._tasks.values() if job.run is run and job.account == account}

    def _rebalance(self, run: StreamRun, account: str) -> None:
        """Split waiting ranges of a lane that its pages show hold several pages, while the lane
        has fewer open ranges than its share of the concurrency.

        A range waiting with its cursor can be split without fetching anything: everything above
        the cursor is read and the range already ends just above the cursor's second, so a fresh
        lower part and an upper part that keeps the cursor cover exactly what is left. This is
        what keeps the rate limit busy once the first ranges run out: concurrency freed by a
        finished range goes to the widest range the lane's last page says is dense enough
        (``PAGES_PER_PART`` pages per part), never to a guess.
        """
        plan = run.plan
        density = run.density.get(account)
        if plan.backfill_limit is not None or density is None or not _splits_anywhere(plan):
            return
        lane = plan.lanes[account]
        in_flight = self._in_flight(run, account)
        target = self._target()
        least_span = max(2 * MIN_SPLIT_SECONDS, 2 * PAGES_PER_PART * PAGE_SIZE / density)
        while len(lane.remaining) < target:
            waiting = [p for p in lane.remaining if p not in in_flight and p.lt - p.gte >= least_span]
            if not waiting:
                return
            widest = max(waiting, key=lambda p: p.lt - p.gte)
            lane.remaining = _replaced(lane.remaining, widest, split(widest.gte, widest.lt, widest.cursor, 2))

    def _queue_lane(self, run: StreamRun, account: str) -> None:
        run.queue_lane(account, self._in_flight(run, account))

    def _fail(self, job: _Job, error: BaseException) -> list[Message]:
        run, name = job.run, job.run.plan.name
        if job.filtered and refuses_parameter(error, "created"):
            return self._list_without_created_filter(job, error)
        match error_scope(error):
            case ErrorScope.CONNECTION:
                self.connection_failed = True
                return [connection_status(False, str(error), failure_kind_of(error))]
            case ErrorScope.STREAM_SKIP:
                run.skipped[job.account] = str(error)
                if isinstance(error, StripeApiError) and error.code == ACCOUNT_INVALID:
                    self.account_failures[job.account] = (str(error), failure_kind_of(error))
                run.settle(job.account)
                self._drop_lane_work(run, job.account)
                return self._finish_if_done(run)
            case _:
                if not isinstance(error, StripeApiError):
                    logger.error("backfill of %s failed", name, exc_info=error, extra={"stream": name})
                    message = redact(f"{type(error).__name__}: {error}")
                else:
                    message = str(error)
                if len(run.plan.lanes) > 1:  # Connect: park this account's lane, the others go on
                    run.failed[job.account] = message
                    self.account_failures[job.account] = (message, failure_kind_of(error))
                    run.settle(job.account)
                    self._drop_lane_work(run, job.account)
                    return self._finish_if_done(run)
                self._retire(run)
                return [stream_error(name, message, failure_kind_of(error))]

    def _list_without_created_filter(self, job: _Job, error: BaseException) -> list[Message]:
        """The server refused ``created`` filters: list the stream without them from now on (each
        range newest first with its cursor, kept client-side), say so once, record it in the
        checkpoint so later runs do not ask again, and fetch the refused range again."""
        run = job.run
        plan = run.plan
        messages: list[Message] = []
        if not plan.created_filter_refused:  # the first refusal; requests already sent refuse too
            plan.refuse_created_filter()
            reason = error.stripe_message if isinstance(error, StripeApiError) else str(error)
            warning = (
                f"The server refuses `created` filters on {plan.definition.list_path} ({reason}); "
                f"stream {plan.name!r} is listed without them, newest first, from now on."
            )
            logger.warning(warning, extra={"stream": plan.name})
            messages.append(log(LogLevel.WARN, warning, {"stream": plan.name}))
            messages.append(stream_state(plan.name, plan.checkpoint()))
        self._queue_lane(run, job.account)
        return messages

    def _finish_if_done(self, run: StreamRun) -> list[Message]:
        """The stream's terminal status once every lane is complete or skipped."""
        if run.finished or run.open_count:
            return []
        self._retire(run)
        name = run.plan.name
        if run.skipped and len(run.skipped) == len(run.plan.lanes):
            self.skipped.add(name)
            return [stream_skip(name, "; ".join(dict.fromkeys(run.skipped.values())))]
        if run.failed and len(run.failed) + len(run.skipped) == len(run.plan.lanes):
            (account, cause), *_ = run.failed.items()  # no account could be read: the stream failed
            return [stream_error(name, cause, self.account_failures[account][1])]
        messages: list[Message] = []
        for verb, lanes in (("skipped", run.skipped), ("parked after an error", run.failed)):
            if lanes:
                messages.append(log(LogLevel.WARN, lanes_summary(name, verb, lanes), {"stream": name}))
        self.completed.add(name)
        if self.finish_streams:
            messages.append(stream_complete(name))
        return messages

    def _retire(self, run: StreamRun) -> None:
        run.finished = True
        run.clear()
        if run in self._active:
            self._active.remove(run)
        for task, job in self._tasks.items():
            if job.run is run:
                task.cancel()

    def _drop_lane_work(self, run: StreamRun, account: str) -> None:
        run.drop_lane(account)
        for task, job in self._tasks.items():
            if job.run is run and job.account == account:
                task.cancel()

    async def _cancel(self, tasks: list[asyncio.Task[FetchedPage]]) -> None:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
