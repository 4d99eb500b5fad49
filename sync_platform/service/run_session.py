"""One run of the pipeline runner on its own thread, consumed by an async request handler.

The runner is blocking code (the engine's own event loop inside, PostgreSQL calls, a writer
thread for checkpoints), so it runs on a thread of its own rather than on the server's event loop
or its small worker pool; a run can take minutes. Events cross to the handler through a bounded
queue: a slow client slows the run down instead of piling events up in memory.

``cancel()`` (a client that went away, the server shutting down) closes the runner's event stream
at the next event, which is how every caller stops a run (the CLI's Ctrl-C does the same): the
batch in flight is abandoned, the checkpoints saved as its pages committed stay, the run lock is
released, and the run is recorded as cancelled. Nothing is cut mid-write: every save is one
transaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from dataclasses import dataclass

from sync_platform.pipelines.runner import RunEvent

logger = logging.getLogger(__name__)

QUEUE_SIZE = 256
JOIN_SECONDS = 30.0


class _Cancelled(Exception):
    """The consumer is gone: stop putting events."""


@dataclass(frozen=True)
class _End:
    error: BaseException | None = None


class RunSession:
    """``start()`` the run, then ``async for event in session``; ``cancel()`` stops it."""

    def __init__(self, make_events: Callable[[], Iterator[RunEvent]], *, name: str) -> None:
        self._make_events = make_events
        self._name = name
        self._cancelled = threading.Event()
        self._queue: asyncio.Queue[RunEvent | _End] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pending_first: RunEvent | _End | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._thread = threading.Thread(target=self._work, name=f"run {self._name}", daemon=True)
        self._thread.start()

    async def first(self) -> RunEvent | None:
        """The first event (None: the run had nothing to do); raises what the runner refused with
        (``PipelineNotRunnableError``, ``PipelineBusyError``) before any work, so the handler can
        answer with an error status instead of an empty 200 stream."""
        item = await self._next()
        if isinstance(item, _End):
            if item.error is not None:
                raise item.error
            self._pending_first = item
            return None
        return item

    async def _next(self) -> RunEvent | _End:
        if self._pending_first is not None:
            item, self._pending_first = self._pending_first, None
            return item
        assert self._queue is not None, "start() the session first"
        return await self._queue.get()

    async def __aiter__(self) -> AsyncIterator[RunEvent]:
        while True:
            item = await self._next()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item

    def cancel(self) -> None:
        self._cancelled.set()

    def join(self, timeout: float = JOIN_SECONDS) -> bool:
        """Wait for the run's thread to end (after ``cancel`` it ends at the next event)."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    # --- the run's thread ---------------------------------------------------------------------

    def _work(self) -> None:
        try:
            events = self._make_events()
            with closing(events):  # closing a generator stops the run where it stands
                for event in events:
                    self._put(event)
                    if self._cancelled.is_set():
                        logger.info("run %s cancelled: its client went away", self._name)
                        break
        except _Cancelled:
            logger.info("run %s cancelled: its client went away", self._name)
            return
        except BaseException as error:
            self._put_quietly(_End(error))
            return
        self._put_quietly(_End())

    def _put(self, item: RunEvent | _End) -> None:
        assert self._loop is not None, "start() the session first"
        assert self._queue is not None
        future = asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop)
        while True:
            try:
                future.result(timeout=0.5)
                return
            except concurrent.futures.TimeoutError:
                if self._cancelled.is_set() or self._loop.is_closed():
                    future.cancel()
                    raise _Cancelled from None

    def _put_quietly(self, item: _End) -> None:
        with contextlib.suppress(_Cancelled, RuntimeError):  # nobody listens any more (or the loop closed)
            self._put(item)
