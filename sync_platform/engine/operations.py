"""The engine's operations: check, discover, setup, teardown, read, write, sync and sync_batch.

A sync is one pipe: the source's messages are tagged, cut at the batch's limits, held to the
catalog, and handed to the destination. The engine then folds state and progress **only from what
the destination re-emits**: a destination re-emits a state once everything before it is durable, so
the folded ``ending_state`` never runs ahead of the data (the commit fence).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Any, Literal

from sync_platform.engine.catalog import exclude_terminal_streams, with_time_ranges
from sync_platform.engine.clock import Clock, SystemClock
from sync_platform.engine.errors import ConnectorOutputError
from sync_platform.engine.gc_policy import favour_throughput
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
from sync_platform.engine.registry import ConnectorRegistry, default_registry
from sync_platform.engine.resolve import (
    ResolvedPipeline,
    bind_destination,
    bind_source,
    resolve_pipeline,
)
from sync_platform.errors import failure_kind_of
from sync_platform.protocol import (
    CatalogPayload,
    ConnectionStatusMessage,
    ConnectorConfig,
    EofMessage,
    EofPayload,
    EofReason,
    LogLevel,
    LogMessage,
    Message,
    PipelineConfig,
    ProgressMessage,
    ProgressPayload,
    RecordMessage,
    RunStatus,
    SourceStateMessage,
    StreamComplete,
    StreamRunStatus,
    StreamStatusMessage,
    SyncState,
)
from sync_platform.protocol.base import WireModel

logger = logging.getLogger(__name__)

ENGINE = "engine"
DEFAULT_STATE_LIMIT = 1000
DEFAULT_SOFT_LIMIT_FRACTION = 0.8
Side = Literal["source", "destination"]

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


def _sides(only: Side | None) -> tuple[bool, bool]:
    if only not in (None, "source", "destination"):
        raise ValueError(f"only must be 'source', 'destination' or None, not {only!r}")
    return only in (None, "source"), only in (None, "destination")


class _Fold:
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


class Engine:
    """Runs operations on pipelines. Stateless between calls: every state goes in and comes out."""

    def __init__(self, registry: ConnectorRegistry | None = None, *, clock: Clock | None = None) -> None:
        self.registry = registry or default_registry()
        self.clock = clock or SystemClock()

    # --- connector-level operations ---------------------------------------------------------------

    async def discover(self, source: ConnectorConfig) -> CatalogPayload:
        bound = bind_source(self.registry, source)
        return await bound.connector.discover(bound.config)

    async def check(
        self, pipeline: PipelineConfig, *, only: Side | None = None
    ) -> list[ConnectionStatusMessage]:
        """Both connectors' connection status, checked concurrently and tagged with who said it."""
        check_source, check_destination = _sides(only)
        checks: list[tuple[str, Any]] = []
        if check_source:
            source = bind_source(self.registry, pipeline.source)
            checks.append((source.tag, source.connector.check(source.config)))
        if check_destination:
            destination = bind_destination(self.registry, pipeline.destination)
            checks.append((destination.tag, destination.connector.check(destination.config)))
        results = await asyncio.gather(*(coroutine for _, coroutine in checks))
        now = self.clock.now()
        return [
            ConnectionStatusMessage(connection_status=result, emitted_by=emitter, ts=now)
            for (emitter, _), result in zip(checks, results, strict=True)
        ]

    async def setup(self, pipeline: PipelineConfig, *, only: Side | None = None) -> AsyncIterator[Message]:
        """Provision both sides; yields their ``control`` (updated config) and ``log`` messages.

        The source sees the full selected catalog, the destination the field-pruned one.
        """
        run_source, run_destination = _sides(only)
        resolved = await resolve_pipeline(self.registry, pipeline)
        if run_source:
            source = resolved.source
            messages = pipe(
                source.connector.setup(source.config, resolved.catalog), tag(source.tag, self.clock)
            )
            async with aclosing(messages):
                async for message in messages:
                    yield message
        if run_destination:
            destination = resolved.destination
            setup = destination.connector.setup(destination.config, resolved.filtered_catalog)
            messages = pipe(setup, tag(destination.tag, self.clock))
            async with aclosing(messages):
                async for message in messages:
                    yield message

    async def teardown(self, pipeline: PipelineConfig, *, only: Side | None = None) -> AsyncIterator[Message]:
        run_source, run_destination = _sides(only)
        if run_source:
            source = bind_source(self.registry, pipeline.source)
            messages = pipe(source.connector.teardown(source.config), tag(source.tag, self.clock))
            async with aclosing(messages):
                async for message in messages:
                    yield message
        if run_destination:
            destination = bind_destination(self.registry, pipeline.destination)
            teardown = destination.connector.teardown(destination.config)
            messages = pipe(teardown, tag(destination.tag, self.clock))
            async with aclosing(messages):
                async for message in messages:
                    yield message

    # --- data operations --------------------------------------------------------------------------

    async def read(
        self,
        pipeline: PipelineConfig,
        *,
        state: Any = None,
        time_limit: float | None = None,
        input: AsyncIterable[Any] | None = None,
    ) -> AsyncIterator[Message]:
        """The source's messages, with no destination; ends with a full ``eof`` like ``sync``.

        State is folded straight from the source here, since there is no destination to fence it.
        """
        resolved = await resolve_pipeline(self.registry, pipeline, state)
        names = resolved.catalog.stream_names()
        fold = _Fold(
            reduce_state(resolved.state, Initialize(names), self.clock.now()),
            initial_progress(names, self.clock.now()),
        )
        cut: list[EofReason] = []
        deadline = self.clock.monotonic() + time_limit if time_limit else None
        source = resolved.source
        messages = pipe(
            source.connector.read(source.config, resolved.catalog, _source_state(resolved.state), input),
            tag(source.tag, self.clock),
            take_until(deadline, self.clock, lambda: cut.append(EofReason.TIME_LIMIT)),
        )
        try:
            async with aclosing(messages):
                async for message in messages:
                    if isinstance(message, RecordMessage):
                        fold.count_record(message.record.stream, self.clock)
                    else:
                        fold.fold(message, message.ts or self.clock.now())
                    yield message
        except Exception as error:
            yield self._eof(fold, reason=EofReason.ERROR, error=error)
            raise
        yield self._eof(fold, reason=cut[0] if cut else EofReason.COMPLETE)

    async def write(
        self, pipeline: PipelineConfig, messages: AsyncIterable[Message]
    ) -> AsyncIterator[Message]:
        """Feed records and states to the destination; yields its (validated) output."""
        resolved = await resolve_pipeline(self.registry, pipeline)
        destination = resolved.destination

        async def data_only() -> AsyncIterator[Message]:
            async for message in messages:
                if isinstance(message, RecordMessage | SourceStateMessage):
                    yield message

        output = destination.connector.write(
            destination.config,
            resolved.filtered_catalog,
            pipe(data_only(), enforce_catalog(resolved.filtered_catalog)),
        )
        async with aclosing(output):
            async for message in output:
                if not isinstance(message, WireModel) or getattr(message, "type", None) is None:
                    raise ConnectorOutputError(destination.tag, message)
                yield message

    async def sync(
        self,
        pipeline: PipelineConfig,
        *,
        state: Any = None,
        run_id: str | None = None,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        state_limit: int | None = None,
        input: AsyncIterable[Any] | None = None,
        on_checkpoint: Callable[[SyncState], None] | None = None,
    ) -> AsyncIterator[Message]:
        """Run a sync, streaming every non-record message, a ``progress`` snapshot after each state,
        stream status and connection status, and a final ``eof``.

        ``soft_time_limit`` stops reading the source (the destination still flushes);
        ``time_limit`` is the hard stop: the eof is yielded at once and the rest is cancelled.
        Either cut sets ``has_more``. A failure yields an eof with ``status: failed`` carrying the
        checkpoint reached so far, then raises. Pipeline problems (bad config, unknown stream)
        raise before anything is read.

        ``on_checkpoint(state)`` is called with the folded ``SyncState`` each time the destination
        re-emitted a state (so everything before it is durable): a caller can persist it mid-batch,
        and a kill then repeats only what came after. States are never mutated, so keeping the
        reference is safe; the call must be cheap (it runs on the event loop).
        """
        resolved = await resolve_pipeline(self.registry, pipeline, state)
        run = self._run(
            resolved,
            run_id=run_id,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            state_limit=state_limit,
            input=input,
            emit=True,
            on_checkpoint=on_checkpoint,
        )
        # Closed with this generator: a caller that stops early (Ctrl-C, a client that went away)
        # unwinds the destination, then the source, now, instead of leaving them to the loop's
        # shutdown, which would close them concurrently and out of order.
        async with aclosing(run):
            async for message in run:
                yield message

    async def sync_batch(
        self,
        pipeline: PipelineConfig,
        *,
        state: Any = None,
        run_id: str | None = None,
        state_limit: int = DEFAULT_STATE_LIMIT,
        time_limit: float | None = None,
        input: AsyncIterable[Any] | None = None,
    ) -> EofPayload:
        """Sync until the ``state_limit``-th checkpoint (or ``time_limit`` seconds), then return.

        The time limit is soft: reading stops and the destination flushes, so the returned
        ``ending_state`` covers all the work done. ``has_more`` means "call again with
        ``ending_state``". A connector failure does not raise: it returns ``status: failed`` with
        ``error`` set and the checkpoint reached before the failure.
        """
        resolved = await resolve_pipeline(self.registry, pipeline, state)
        eof: EofPayload | None = None
        run = self._run(
            resolved,
            run_id=run_id,
            time_limit=None,
            soft_time_limit=time_limit,
            state_limit=state_limit,
            input=input,
            emit=False,
        )
        try:
            async with aclosing(run):
                async for message in run:
                    if isinstance(message, EofMessage):
                        eof = message.eof
        except Exception:
            logger.exception("sync_batch failed; returning the checkpoint reached before the failure")
        if eof is None:  # pragma: no cover - _run always yields an eof before returning or raising
            raise RuntimeError("sync_batch ended without an eof")
        return eof

    # --- the sync core ----------------------------------------------------------------------------

    async def _run(
        self,
        resolved: ResolvedPipeline,
        *,
        run_id: str | None,
        time_limit: float | None,
        soft_time_limit: float | None,
        state_limit: int | None,
        input: AsyncIterable[Any] | None,
        emit: bool,
        on_checkpoint: Callable[[SyncState], None] | None = None,
    ) -> AsyncIterator[Message]:
        favour_throughput()
        clock = self.clock
        prior = resolved.state
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
        fold = _Fold(
            reduce_state(prior, Initialize(names, run_id), started), initial_progress(names, started)
        )
        source_catalog = with_time_ranges(read_catalog, fold.state.sync_run.time_ceiling)

        cut: list[EofReason] = []
        soft = (
            soft_time_limit
            if soft_time_limit is not None
            else default_soft_time_limit(time_limit, resolved.destination.spec.soft_limit_fraction)
        )
        origin = clock.monotonic()
        stages = [tag(resolved.source.tag, clock)]
        if state_limit is not None:
            stages.append(take_through_states(state_limit, lambda: cut.append(EofReason.STATE_LIMIT)))
        if soft is not None:
            stages.append(take_until(origin + soft, clock, lambda: cut.append(EofReason.TIME_LIMIT)))
        stages.append(enforce_catalog(write_catalog))

        source, destination = resolved.source, resolved.destination
        destination_input = pipe(
            source.connector.read(source.config, source_catalog, _source_state(prior), input), *stages
        )
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
            yield self._eof(fold, reason=EofReason.ERROR, error=error)
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
            yield self._eof(fold, reason=cut[0])
            return
        if natural_end and input is not None:
            self._complete_pushed_streams(fold)
        yield self._eof(fold, reason=EofReason.COMPLETE)

    def _complete_pushed_streams(self, fold: _Fold) -> None:
        """Pushed input fully applied: every stream it touched is complete for this request."""
        at = self.clock.now()
        for name, progress in fold.request.streams.items():
            if progress.status in (StreamRunStatus.NOT_STARTED, StreamRunStatus.STARTED):
                fold.fold(
                    StreamStatusMessage(stream_status=StreamComplete(stream=name), emitted_by=ENGINE, ts=at),
                    at,
                )

    def _eof(self, fold: _Fold, *, reason: EofReason, error: BaseException | None = None) -> EofMessage:
        fold.flush_records(self.clock.now())
        run_progress = fold.state.sync_run.progress
        failed = reason is EofReason.ERROR
        payload = EofPayload(
            status=RunStatus.FAILED if failed else run_progress.derived.status,
            has_more=reason in (EofReason.STATE_LIMIT, EofReason.TIME_LIMIT, EofReason.ABORTED),
            ending_state=fold.state,
            run_progress=run_progress,
            request_progress=fold.request,
            reason=reason,
            error=_describe_error(error) if error is not None else None,
            failure_kind=failure_kind_of(error) if error is not None else None,
        )
        return EofMessage(eof=payload, emitted_by=ENGINE, ts=self.clock.now())


def _source_state(state: SyncState | None) -> Any:
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
