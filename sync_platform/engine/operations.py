"""The engine's operations: check, discover, setup, teardown, read, write, sync and sync_batch.

A sync is one pipe: the source's messages are tagged, cut at the batch's limits, held to the
catalog, and handed to the destination. The engine then folds state and progress **only from what
the destination re-emits**: a destination re-emits a state once everything before it is durable, so
the folded ``ending_state`` never runs ahead of the data (the commit fence). That loop is
``sync_loop.run_sync``; this module is the operations around it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import aclosing
from typing import Any, Literal

from sync_platform.engine.clock import Clock, SystemClock
from sync_platform.engine.errors import ConnectorOutputError
from sync_platform.engine.operators import (
    enforce_catalog,
    pipe,
    tag,
    take_until,
)
from sync_platform.engine.reducers import (
    Initialize,
    initial_progress,
    reduce_state,
)
from sync_platform.engine.registry import ConnectorRegistry, default_registry
from sync_platform.engine.resolve import (
    bind_destination,
    bind_source,
    resolve_pipeline,
)
from sync_platform.engine.state_coalescing import configured_interval
from sync_platform.engine.sync_loop import (
    SyncFold,
    end_of_request,
    run_sync,
    source_state_of,
)
from sync_platform.protocol import (
    CatalogPayload,
    ConnectionStatusMessage,
    ConnectorConfig,
    EofMessage,
    EofPayload,
    EofReason,
    Message,
    PipelineConfig,
    RecordMessage,
    SourceStateMessage,
    SyncState,
    rendered_state,
)
from sync_platform.protocol.base import WireModel

logger = logging.getLogger(__name__)

DEFAULT_STATE_LIMIT = 1000
Side = Literal["source", "destination"]


def _sides(only: Side | None) -> tuple[bool, bool]:
    if only not in (None, "source", "destination"):
        raise ValueError(f"only must be 'source', 'destination' or None, not {only!r}")
    return only in (None, "source"), only in (None, "destination")


class Engine:
    """Runs operations on pipelines. Stateless between calls: every state goes in and comes out."""

    def __init__(
        self,
        registry: ConnectorRegistry | None = None,
        *,
        clock: Clock | None = None,
        state_interval: float | None = None,
    ) -> None:
        """``state_interval``: seconds a stream's small-page checkpoints may be held back and
        coalesced (``engine/state_coalescing.py``); 0 passes every checkpoint at once; by default
        ``SYNC_PLATFORM_CHECKPOINT_INTERVAL`` or 1 s."""
        self.registry = registry or default_registry()
        self.clock = clock or SystemClock()
        self.state_interval = configured_interval() if state_interval is None else state_interval

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
        prior = resolved.take_state()
        fold = SyncFold(
            reduce_state(prior, Initialize(names), self.clock.now()),
            initial_progress(names, self.clock.now()),
        )
        cut: list[EofReason] = []
        deadline = self.clock.monotonic() + time_limit if time_limit else None
        source = resolved.source
        messages = pipe(
            source.connector.read(source.config, resolved.catalog, source_state_of(prior), input),
            tag(source.tag, self.clock),
            take_until(deadline, self.clock, lambda: cut.append(EofReason.TIME_LIMIT)),
        )
        del prior  # the fold and the source hold it now, each as long as it needs it (``StateHandoff``)
        try:
            async with aclosing(messages):
                async for message in messages:
                    if isinstance(message, RecordMessage):
                        fold.count_record(message.record.stream, self.clock)
                    else:
                        message = rendered_state(message)  # no coalescer here: every state leaves
                        fold.fold(message, message.ts or self.clock.now())
                    yield message
        except Exception as error:
            yield end_of_request(fold, self.clock, reason=EofReason.ERROR, error=error)
            raise
        yield end_of_request(fold, self.clock, reason=cut[0] if cut else EofReason.COMPLETE)

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

        ``state`` may be a ``StateHandoff`` (the caller keeps no reference to a checkpoint the
        run needs only until the source has planned from it).

        ``on_checkpoint(state)`` is called with the folded ``SyncState`` each time the destination
        re-emitted a state (so everything before it is durable): a caller can persist it mid-batch,
        and a kill then repeats only what came after. States are never mutated, so keeping the
        reference is safe; the call must be cheap (it runs on the event loop). Its stream states
        may be deferred snapshots (``DeferredStateData``): serialized, they write out as their
        rendering; ``rendered_stream_states`` gives them as Python data. So may the data of the
        ``source_state`` messages yielded (``rendered_data`` gives it as Python data); the eof's
        ``ending_state`` is always plain data.
        """
        resolved = await resolve_pipeline(self.registry, pipeline, state)
        run = run_sync(
            resolved,
            self.clock,
            run_id=run_id,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            state_limit=state_limit,
            input=input,
            emit=True,
            on_checkpoint=on_checkpoint,
            state_interval=self.state_interval,
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
        run = run_sync(
            resolved,
            self.clock,
            run_id=run_id,
            time_limit=None,
            soft_time_limit=time_limit,
            state_limit=state_limit,
            input=input,
            emit=False,
            state_interval=self.state_interval,
        )
        try:
            async with aclosing(run):
                async for message in run:
                    if isinstance(message, EofMessage):
                        eof = message.eof
        except Exception:
            logger.exception("sync_batch failed; returning the checkpoint reached before the failure")
        if eof is None:  # pragma: no cover - run_sync always yields an eof before returning or raising
            raise RuntimeError("sync_batch ended without an eof")
        return eof
