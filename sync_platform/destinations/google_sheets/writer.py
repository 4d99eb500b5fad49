"""The write loop: buffer records, flush them in few requests, and re-emit states only after.

This is where the destination contract lives. Everything that arrives after the first unflushed
record (records, states, statuses, logs) is held, in order, until the flush that covers it has
succeeded; then the flush's per-stream stats are logged and the held messages are released. A
message that arrives while nothing is pending passes straight through.

One flush may be in flight while the next batch is being buffered: a flush spends most of its time
waiting (for Google's answer, or for the write quota), and reading and converting the next records
meanwhile is free. Flushes still run one at a time and release their messages in order, since each
plans against the bookkeeping the previous one left. A buffer that reaches ``max_cells_per_flush``
while the previous flush is still on its way keeps growing (up to ``max_bytes_per_flush``, or ten
times the cell target) rather than waiting: when Google or the quota is the bottleneck, requests
get bigger and fewer, and when it is not, checkpoints stay frequent.

A failure is contained to the streams it concerns: a record with no key, a tab that is not ours, or
a failed flush (which covers every stream it carried) turns into a ``stream_status: error`` for each
affected stream; their held records and states are dropped and later ones ignored for the rest of
the run, so their checkpoints never move past data that was not written. Global states fence every
stream, so after any failure they are dropped too. Other streams carry on. Each error carries the
failure's kind (``failure_kind``), from the error that caused it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sync_platform.destinations.google_sheets.buffer import FlushBuffer, RecordError
from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.errors import SheetsDestinationError
from sync_platform.destinations.google_sheets.plan import FlushPlan
from sync_platform.destinations.google_sheets.session import SheetsSession
from sync_platform.errors import FailureKind, failure_kind_of
from sync_platform.protocol import (
    GlobalStatePayload,
    LogLevel,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamStatePayload,
    StreamStatusMessage,
    log,
    stream_error,
)

logger = logging.getLogger(__name__)
COALESCE_FACTOR = 10  # how far past the cell target a buffer may grow while a flush is in flight


def _stream_of(message: Message) -> str | None:
    """The stream a held message belongs to (``None`` for global states and stream-less messages)."""
    if isinstance(message, RecordMessage):
        return message.record.stream
    if isinstance(message, SourceStateMessage) and isinstance(message.source_state, StreamStatePayload):
        return message.source_state.stream
    if isinstance(message, StreamStatusMessage):
        return message.stream_status.stream
    return None


@dataclass
class _Flight:
    """A flush on its way: the request task, the streams it carries, the messages it releases."""

    task: asyncio.Task[FlushPlan]
    streams: set[str]
    held: list[Message] = field(default_factory=list)


class SheetsWriter:
    """One run of ``write``: owns the buffer, the held output and the set of failed streams."""

    def __init__(self, session: SheetsSession, config: GoogleSheetsDestinationConfig) -> None:
        self.session = session
        self.config = config
        self.buffer = FlushBuffer()
        self.held: list[Message] = []
        self.flight: _Flight | None = None
        self.failed: set[str] = set()
        self.global_fence_broken = False
        self.totals: dict[str, int] = {"inserted": 0, "updated": 0, "skipped_stale": 0, "deleted": 0}

    async def run(self, messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        try:
            for stream, conflict in self.session.conflicts.items():
                for out in self._fail({stream}, str(conflict), conflict.failure_kind):
                    yield out
            async for message in messages:
                if isinstance(message, RecordMessage):
                    for out in self._accept(message):
                        yield out
                elif self._dropped(message):
                    continue
                elif self.held:
                    self.held.append(message)
                elif self.flight is not None:  # everything before it is in the flush on its way
                    self.flight.held.append(message)
                else:
                    yield message
                if self.flight is not None and self.flight.task.done():
                    async for out in self._land():
                        yield out
                if self._full() and (self.flight is None or self._at_cap()):
                    async for out in self._launch():
                        yield out
            async for out in self._launch():
                yield out
            async for out in self._land():
                yield out
        finally:
            if self.flight is not None:  # closed early: the flush is abandoned, its states never sent
                task = self.flight.task
                task.cancel()
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved, so asyncio does not warn about it
        yield log(
            LogLevel.INFO,
            f"google_sheets: wrote to spreadsheet {self.session.spreadsheet_id}",
            data={
                "spreadsheet_id": self.session.spreadsheet_id,
                "flushes": self.session.flushes,
                "requests": dict(self.session.api.requests),
                "retries": self.session.api.retries,
                "paced_seconds": round(self.session.api.pacer.waited_seconds, 3),
                **self.totals,
            },
        )

    def _accept(self, message: RecordMessage) -> list[Message]:
        stream = message.record.stream
        if stream in self.failed:
            return []
        if stream not in self.session.streams:
            return self._fail(
                {stream},
                f"Stream {stream!r} is not in the catalog this write was started with.",
                FailureKind.CONFIG,
            )
        try:
            self.buffer.add(self.session.rows_for(stream), message.record)
        except RecordError as error:
            return self._fail({stream}, str(error), error.failure_kind)
        self.held.append(message)
        return []

    def _full(self) -> bool:
        """The buffer reached the size a flush aims for."""
        return (
            self.buffer.cells >= self.config.max_cells_per_flush
            or self.buffer.bytes >= self.config.max_bytes_per_flush
        )

    def _at_cap(self) -> bool:
        """The buffer may not grow further, even while the previous flush is still on its way."""
        return (
            self.buffer.cells >= COALESCE_FACTOR * self.config.max_cells_per_flush
            or self.buffer.bytes >= self.config.max_bytes_per_flush
        )

    def _dropped(self, message: Message) -> bool:
        """States and statuses of failed streams, and global states once any stream failed."""
        if isinstance(message, SourceStateMessage) and isinstance(message.source_state, GlobalStatePayload):
            return self.global_fence_broken
        stream = _stream_of(message)
        return stream is not None and stream in self.failed

    async def _launch(self) -> AsyncIterator[Message]:
        """Send the buffer as the next flush (after the one in flight has landed)."""
        async for out in self._land():
            yield out
        changes = self.buffer.take()
        held, self.held = self.held, []
        if changes:
            task = asyncio.create_task(self.session.flush(dict(changes)))
            self.flight = _Flight(task, set(changes), held)
        else:
            for message in held:
                yield message

    async def _land(self) -> AsyncIterator[Message]:
        """Wait for the flush in flight; release what it covered, or fail the streams it carried."""
        if self.flight is None:
            return
        flight = self.flight
        try:
            plan = await flight.task
        except SheetsDestinationError as error:
            self.flight = None
            logger.error("google_sheets flush failed: %s", error, extra={"streams": sorted(flight.streams)})
            for out in self._fail(flight.streams, str(error), failure_kind_of(error)):
                yield out
            for message in flight.held:
                if not self._dropped(message):
                    yield message
            return
        self.flight = None
        for stream, outcome in plan.outcomes.items():
            data = outcome.as_log_data(stream)
            for name in self.totals:
                self.totals[name] += data[name]
            yield log(LogLevel.INFO, f"google_sheets: flushed {stream}", data=data)
            writer = self.session.rows_for(stream).cell_writer
            if writer.truncated:
                yield log(
                    LogLevel.WARN,
                    f"google_sheets: {writer.truncated} value(s) of stream {stream!r} exceeded 50,000 "
                    "characters and were truncated (marked '…[truncated by sync_platform]').",
                    data={"stream": stream, "truncated": writer.truncated},
                )
                writer.truncated = 0
        for message in flight.held:
            yield message

    def _fail(self, streams: set[str], reason: str, kind: FailureKind) -> list[Message]:
        """Mark ``streams`` failed for this run: drop what they hold, report one error each."""
        streams = streams - self.failed
        if not streams:
            return []
        self.failed |= streams
        self.global_fence_broken = True
        for stream in streams:
            self.buffer.drop(stream)
        self.held = [message for message in self.held if not self._dropped(message)]
        return [stream_error(stream, reason, kind) for stream in sorted(streams)]
