"""Stream operators: ``AsyncIterator[A] -> AsyncIterator[B]`` steps joined with ``pipe``.

Each operator is built by a factory that takes its options; per-run counters live inside the
generator, so reusing an operator never leaks a count into the next run. Whoever opens a stream
closes it: every operator closes its upstream (``aclosing``) when it stops early, which is how
cancellation reaches a source's in-flight requests.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, suppress
from typing import Any, Final, TypeVar

from sync_platform.engine.clock import Clock
from sync_platform.protocol import (
    ConfiguredCatalog,
    GlobalStatePayload,
    LogLevel,
    LogMessage,
    LogPayload,
    Message,
    RecordMessage,
    RecordPayload,
    SourceStateMessage,
)

logger = logging.getLogger(__name__)

A = TypeVar("A")
B = TypeVar("B")
Operator = Callable[[AsyncIterator[A]], AsyncIterator[B]]

# Keys removed from every record: a deletion travels as ``recordDeleted``, never as a data field.
STRIPPED_RECORD_FIELDS: Final = frozenset({"deleted"})


def pipe(source: AsyncIterator[Any], *operators: Operator[Any, Any]) -> AsyncIterator[Any]:
    for operator in operators:
        source = operator(source)
    return source


def _is_data(message: Any) -> bool:
    return isinstance(message, RecordMessage | SourceStateMessage)


def take_through_states(
    limit: int,
    on_cut: Callable[[], None] | None = None,
    release: Callable[[], list[Message]] | None = None,
) -> Operator[Message, Message]:
    """Pass messages through the ``limit``-th ``source_state`` (included), so a batch ends on a checkpoint.

    Status and log messages right after that state still pass (a stream's ``complete`` usually
    follows its final state); the stream is cut at the first record or state after it. A state
    that is cut at passes too: every record before it has passed, so committing it only saves the
    next batch from reading them again. ``on_cut`` is called only when something was actually cut
    off, so a source that ends exactly at the limit does not cost the caller an extra, empty
    request (the reference reports "more" there). At the cut, ``release`` gives the states held
    upstream (``state_coalescing``): their records have passed too, so they pass.
    """

    async def operator(messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        seen = 0
        async with aclosing(messages):
            async for message in messages:
                if seen >= limit and _is_data(message):
                    if on_cut is not None:
                        on_cut()
                    if isinstance(message, SourceStateMessage):
                        yield message
                    for held in release() if release is not None else ():
                        yield held
                    return
                yield message
                if isinstance(message, SourceStateMessage):
                    seen += 1

    return operator


END: Final = object()
TIMEOUT: Final = object()


class Prefetcher:
    """Reads an upstream iterator in its own task, until a deadline, so a consumer can wait on it.

    Used only when a time limit is set: the limit must fire even while the upstream is blocked (an
    idle source, a slow flush), which a plain ``async for`` cannot notice. Items read before the
    deadline are buffered (up to ``max_buffer``, so the cost per item is a deque operation rather
    than a task switch) and are all handed out; reading stops at the deadline, after which
    ``next`` returns ``TIMEOUT`` once the buffer is empty.
    """

    def __init__(
        self, upstream: AsyncIterator[Any], clock: Clock, deadline: float | None, *, max_buffer: int = 512
    ) -> None:
        self._upstream = upstream
        self._clock = clock
        self._deadline = deadline
        self._max_buffer = max_buffer
        self._buffer: deque[Any] = deque()
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()
        self._finished = False
        self.timed_out = False
        self._error: BaseException | None = None
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        try:
            async with aclosing(self._upstream):
                async for item in self._upstream:
                    self._buffer.append(item)
                    self._ready.set()
                    if self._deadline is not None and self._clock.monotonic() >= self._deadline:
                        self.timed_out = True
                        return
                    if len(self._buffer) >= self._max_buffer:
                        self._space.clear()
                        await self._space.wait()
        except asyncio.CancelledError:
            raise
        except BaseException as error:  # handed to the consumer, which re-raises it in its own task
            self._error = error
        finally:
            self._finished = True
            self._ready.set()

    async def next(self) -> Any:
        """The next item, ``END`` when the upstream finished, or ``TIMEOUT`` after the deadline."""
        while True:
            if self._buffer:
                item = self._buffer.popleft()
                if len(self._buffer) <= self._max_buffer // 2:
                    self._space.set()
                return item
            if self._finished:
                if self._error is not None:
                    raise self._error
                return TIMEOUT if self.timed_out else END
            self._ready.clear()
            if self._deadline is None:
                await self._ready.wait()
            elif not await self._wait_ready_until(self._deadline):
                self.timed_out = True
                self.cancel()
                return TIMEOUT

    async def _wait_ready_until(self, deadline: float) -> bool:
        ready = asyncio.ensure_future(self._ready.wait())
        timer = asyncio.ensure_future(self._clock.sleep(deadline - self._clock.monotonic()))
        try:
            await asyncio.wait({ready, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (ready, timer):
                waiter.cancel()
        return self._ready.is_set()

    def cancel(self) -> asyncio.Task[None]:
        """Stop reading upstream without waiting for it to unwind (a hard limit must not block)."""
        self._task.cancel()
        return self._task

    async def close(self) -> None:
        """Stop reading upstream and wait until it has released what it holds."""
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task


def take_until(
    deadline: float | None, clock: Clock, on_cut: Callable[[], None] | None = None
) -> Operator[Message, Message]:
    """End the stream once ``deadline`` (clock-monotonic seconds) passes, even if upstream is idle.

    This is the soft time limit: the source is closed between messages, so the destination sees a
    normal end of input, flushes, and re-emits the states it buffered; none of that work is lost.
    """

    async def operator(messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        if deadline is None:
            async with aclosing(messages):
                async for message in messages:
                    yield message
            return
        prefetch = Prefetcher(messages, clock, deadline)
        try:
            while (item := await prefetch.next()) is not END:
                if item is TIMEOUT:
                    if on_cut is not None:
                        on_cut()
                    return
                yield item
        finally:
            await prefetch.close()

    return operator


def enforce_catalog(catalog: ConfiguredCatalog) -> Operator[Message, Message]:
    """Keep only what the catalog allows: known streams, and the fields a user selected.

    A record keeps every field it arrived with — the schema decides which typed columns a
    destination makes, never what the raw record holds, since a source's API adds fields between
    SDK releases (and a pipeline may pin its own API version). Only a stream whose configuration
    selects ``fields`` is cut down, explicitly, to those fields plus its primary key and ordering
    field. A record or stream state of a stream outside the catalog is dropped, and one error
    ``log`` per such stream says so. ``deleted`` is always removed from record data (tombstones
    travel as ``recordDeleted``, which is kept). Global states always pass.
    """
    allowed: dict[str, frozenset[str] | None] = {}
    for configured in catalog.streams:
        stream = configured.stream
        selected = (
            {*configured.fields, *stream.primary_key_fields(), stream.newer_than_field}
            if configured.fields
            else None
        )
        allowed[stream.name] = frozenset(selected) if selected is not None else None

    def _prune(message: RecordMessage, fields: frozenset[str] | None) -> RecordMessage:
        data = message.record.data
        # Looked up field by field (~0.14 µs): ``intersection(data)`` walks every key (~0.5 µs).
        if fields is None:
            if not any(map(data.__contains__, STRIPPED_RECORD_FIELDS)):
                return message
            pruned = {k: v for k, v in data.items() if k not in STRIPPED_RECORD_FIELDS}
        else:
            if data.keys() <= fields and not any(map(data.__contains__, STRIPPED_RECORD_FIELDS)):
                return message
            pruned = {k: v for k, v in data.items() if k in fields and k not in STRIPPED_RECORD_FIELDS}
        payload = RecordPayload.trusted({**message.record.__dict__, "data": pruned})
        return RecordMessage.trusted({**message.__dict__, "record": payload})

    async def operator(messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        reported: set[str] = set()
        async with aclosing(messages):
            async for message in messages:
                if isinstance(message, RecordMessage):
                    stream = message.record.stream
                elif isinstance(message, SourceStateMessage) and not isinstance(
                    message.source_state, GlobalStatePayload
                ):
                    stream = message.source_state.stream
                else:
                    yield message
                    continue
                if stream not in allowed:
                    if stream not in reported:
                        reported.add(stream)
                        logger.error("dropping messages of stream %r: not in the catalog", stream)
                        yield LogMessage(  # one log per stream, not per record
                            log=LogPayload(
                                level=LogLevel.ERROR,
                                message=f"Unknown stream {stream!r} is not in the catalog; dropped.",
                                data={"stream": stream},
                            ),
                            emitted_by="engine",
                        )
                    continue
                if isinstance(message, RecordMessage):
                    yield _prune(message, allowed[stream])
                else:
                    yield message

    return operator


def tag(emitter: str, clock: Clock) -> Operator[Message, Message]:
    """Stamp ``_emitted_by`` and ``_ts`` on every non-record message that lacks them.

    Records are left alone: they are never forwarded to callers of ``sync``, and stamping a copy
    of each would cost more than the rest of the engine per record.
    """

    async def operator(messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        async with aclosing(messages):
            async for message in messages:
                if isinstance(message, RecordMessage) or message.emitted_by is not None:
                    yield message
                else:
                    yield message.model_copy(update={"emitted_by": emitter, "ts": message.ts or clock.now()})

    return operator
