"""One sync request run to its end: the pipe from source to destination, and the fold of what comes back.

``run_sync`` builds the pipe (tag, the batch's state and time limits, the catalog's fields) from
the source's ``read`` into the destination's ``write``, and folds state and progress only from what
the destination re-emits (the commit fence), so the ``ending_state`` of its final ``eof`` never runs
ahead of the data. A hard time limit ends the request at once (``Prefetcher``); a failure yields an
eof carrying the checkpoint reached so far, then raises. ``Engine.sync`` and ``Engine.sync_batch``
call it; it lives apart from the other operations because it is the one with a loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import datetime
from typing import Any

from sync_platform.engine.catalog import exclude_terminal_streams, with_time_ranges
from sync_platform.engine.clock import Clock
from sync_platform.engine.operators import (
    END,
    TIMEOUT,
    Prefetcher,
    enforce_catalog,
    pipe,
    tag,
    take_through_states,
    take_until,
)
from sync_platform.engine.reducers import (
    Initialize,
    RecordsSeen,
    initial_progress,
    is_progress_trigger,
    reduce_progress,
    reduce_state,
)
from sync_platform.engine.resolve import ResolvedPipeline
from sync_platform.engine.state_coalescing import STATE_INTERVAL, StateCoalescer
from sync_platform.errors import failure_kind_of
from sync_platform.gc_policy import favour_throughput
from sync_platform.protocol import (
    EofMessage,
    EofPayload,
    EofReason,
    LogLevel,
    LogMessage,
    Message,
    ProgressMessage,
    ProgressPayload,
    RecordMessage,
    RunStatus,
    SourceStateMessage,
    StreamComplete,
    StreamRunStatus,
    StreamStatusMessage,
    SyncState,
    rendered_stream_states,
)

logger = logging.getLogger("sync_platform.engine.operations")  # the name users' log filters know

ENGINE = "engine"
DEFAULT_SOFT_LIMIT_FRACTION = 0.8

_LOG_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARN: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
}


def default_soft_time_limit(time_limit: float | None, fraction: float | None) -> float | None:
    """Stop reading at 80% of a time limit (or the destination's own fraction) so it can flush."""
    if time_limit is None or time_limit < 2:
        return None
    return (fraction or DEFAULT_SOFT_LIMIT_FRACTION) * time_limit


class SyncFold:
    """The running fold of one sync request: SyncState (run progress) plus the request's progress.

    Records are counted and folded in bulk just before the next non-record message (or the end),
    which gives the same result as folding them one by one.
    """

    def __init__(self, state: SyncState, request: ProgressPayload) -> None:
        self.state = state
        self.request = request
        self._pending: dict[str, int] = {}
        self._first_pending_at: datetime | None = None

    def count_record(self, stream: str, clock: Clock) -> None:
        if not self._pending:
            self._first_pending_at = clock.now()
        self._pending[stream] = self._pending.get(stream, 0) + 1

    def flush_records(self, at: datetime) -> None:
        if self._pending:
            seen = RecordsSeen(dict(self._pending), first_seen_at=self._first_pending_at)
            self.state = reduce_state(self.state, seen, at)
            self.request = reduce_progress(self.request, seen, at)
            self._pending.clear()

    def fold(self, message: Message, at: datetime) -> None:
        self.flush_records(at)
        self.state = reduce_state(self.state, message, at)
        self.request = reduce_progress(self.request, message, at)


async def run_sync(
    resolved: ResolvedPipeline,
    clock: Clock,
    *,
    run_id: str | None,
    time_limit: float | None,
    soft_time_limit: float | None,
    state_limit: int | None,
    input: AsyncIterable[Any] | None,
    emit: bool,
    on_checkpoint: Callable[[SyncState], None] | None = None,
    state_interval: float = STATE_INTERVAL,
) -> AsyncIterator[Message]:
    favour_throughput()
    prior = resolved.take_state()
    read_catalog, write_catalog = resolved.catalog, resolved.filtered_catalog
    # A continuation skips streams that finished earlier in the run, except with pushed
    # input: events may belong to any stream at any time, and a pushed batch completes the
    # streams it touched, so skipping them would drop every later event of those streams.
    if input is None and run_id is not None and prior is not None and prior.sync_run.run_id == run_id:
        read_catalog = exclude_terminal_streams(read_catalog, prior.sync_run.progress)
        write_catalog = exclude_terminal_streams(write_catalog, prior.sync_run.progress)
    # Pushed input touches only the streams its events belong to, so progress starts empty
    # instead of listing every stream as not_started forever (reference bug #2).
    names = [] if input is not None else write_catalog.stream_names()
    started = clock.now()
    fold = SyncFold(reduce_state(prior, Initialize(names, run_id), started), initial_progress(names, started))
    source_catalog = with_time_ranges(read_catalog, fold.state.sync_run.time_ceiling)

    cut: list[EofReason] = []
    soft = (
        soft_time_limit
        if soft_time_limit is not None
        else default_soft_time_limit(time_limit, resolved.destination.spec.soft_limit_fraction)
    )
    origin = clock.monotonic()
    stages = [tag(resolved.source.tag, clock)]
    if soft is not None:
        stages.append(take_until(origin + soft, clock, lambda: cut.append(EofReason.TIME_LIMIT)))
    # The state limit counts the checkpoints that will be committed, and takes the held ones at its cut.
    # Nothing may buffer between the coalescer and that cut (the soft limit's prefetcher stays
    # upstream): a held state covers records the coalescer passed on, which must all be past the cut.
    coalescer = StateCoalescer(clock, interval=state_interval)
    stages.append(coalescer.operator)
    if state_limit is not None:
        on_cut = lambda: cut.append(EofReason.STATE_LIMIT)  # noqa: E731
        stages.append(take_through_states(state_limit, on_cut, release=coalescer.release_all))
    stages.append(enforce_catalog(write_catalog))

    source, destination = resolved.source, resolved.destination
    destination_input = pipe(
        source.connector.read(source.config, source_catalog, source_state_of(prior), input), *stages
    )
    # From here the fold holds the prior state, each stream's until it checkpoints again, and the
    # source what it reads from (until it has planned): this frame keeps none of it (StateHandoff).
    del prior
    output = destination.connector.write(destination.config, write_catalog, destination_input)
    hard = Prefetcher(output, clock, origin + time_limit) if time_limit is not None else None
    natural_end = False
    try:
        while True:
            if hard is not None:
                message = await hard.next()
                if message is TIMEOUT:
                    cut.append(EofReason.TIME_LIMIT)
                    break
                if message is END:
                    natural_end = True
                    break
            else:
                try:
                    message = await anext(output)
                except StopAsyncIteration:
                    natural_end = True
                    break
            if isinstance(message, RecordMessage):
                fold.count_record(message.record.stream, clock)
                continue
            if message.emitted_by is None:
                message = message.model_copy(
                    update={"emitted_by": destination.tag, "ts": message.ts or clock.now()}
                )
            # A deferred checkpoint stays a snapshot in the fold and in what the engine yields
            # (``DeferredStateData``: written out where it is read); only the eof is rendered.
            fold.fold(message, message.ts or clock.now())
            if on_checkpoint is not None and isinstance(message, SourceStateMessage):
                on_checkpoint(fold.state)
            _log_connector_message(message)
            if emit:
                yield message
                if is_progress_trigger(message):
                    yield ProgressMessage(
                        progress=fold.state.sync_run.progress, emitted_by=ENGINE, ts=clock.now()
                    )
    except Exception as error:
        fold.flush_records(clock.now())
        yield end_of_request(fold, clock, reason=EofReason.ERROR, error=error)
        raise
    finally:
        if hard is not None:
            # Fire and forget: the eof must not wait for a slow flush to unwind. Cancelling the
            # reader task unwinds the destination, then the source, inside that task.
            hard.cancel()
        else:
            await output.aclose()
            await destination_input.aclose()
    if cut:
        yield end_of_request(fold, clock, reason=cut[0])
        return
    if natural_end and input is not None:
        _complete_pushed_streams(fold, clock)
    yield end_of_request(fold, clock, reason=EofReason.COMPLETE)


def _complete_pushed_streams(fold: SyncFold, clock: Clock) -> None:
    """Pushed input fully applied: every stream it touched is complete for this request."""
    at = clock.now()
    for name, progress in fold.request.streams.items():
        if progress.status in (StreamRunStatus.NOT_STARTED, StreamRunStatus.STARTED):
            fold.fold(
                StreamStatusMessage(stream_status=StreamComplete(stream=name), emitted_by=ENGINE, ts=at),
                at,
            )


def end_of_request(
    fold: SyncFold, clock: Clock, *, reason: EofReason, error: BaseException | None = None
) -> EofMessage:
    """The request's ``eof``: the folded state and progress, why it ended, and a failure's kind."""
    fold.flush_records(clock.now())
    run_progress = fold.state.sync_run.progress
    failed = reason is EofReason.ERROR
    payload = EofPayload(
        status=RunStatus.FAILED if failed else run_progress.derived.status,
        has_more=reason in (EofReason.STATE_LIMIT, EofReason.TIME_LIMIT, EofReason.ABORTED),
        ending_state=rendered_stream_states(fold.state),
        run_progress=run_progress,
        request_progress=fold.request,
        reason=reason,
        error=_describe_error(error) if error is not None else None,
        failure_kind=failure_kind_of(error) if error is not None else None,
    )
    return EofMessage(eof=payload, emitted_by=ENGINE, ts=clock.now())


def source_state_of(state: SyncState | None) -> Any:
    return state.source if state is not None else None


def _describe_error(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _log_connector_message(message: Message) -> None:
    """Re-log connector ``log`` messages through Python logging, so they reach Dagster and the CLI."""
    if isinstance(message, LogMessage):
        logger.log(
            _LOG_LEVELS.get(message.log.level, logging.INFO),
            "%s: %s",
            message.emitted_by,
            message.log.message,
            extra={"emitted_by": message.emitted_by, "log_data": message.log.data},
        )
