"""The write loop: buffer records, flush them in few requests, and re-emit states only after.

What leaves, and when, is the destination kit's commit fence (``engine/destination_kit/fence.py``),
with one batch for all streams (a flush is one atomic ``batchUpdate``): records are echoed and the
states after them re-emitted once the flush that covers them has succeeded; a message that arrives
while nothing is pending passes straight through.

One flush may be in flight while the next batch is being buffered: a flush spends most of its time
waiting (for Google's answer, or for the write quota), and reading and converting the next records
meanwhile is free. Flushes still run one at a time, since each plans against the bookkeeping the
previous one left. A buffer that reaches ``max_cells_per_flush`` while the previous flush is still
on its way keeps growing (up to ``max_bytes_per_flush``, or ten times the cell target) rather than
waiting: when Google or the quota is the bottleneck, requests get bigger and fewer, and when it is
not, checkpoints stay frequent.

A failure is contained to the streams it concerns: a record with no key, a tab that is not ours, or
a failed flush (which covers every stream it carried) fails each affected stream through the fence
(one ``stream_status: error`` each, with the failure's kind; their buffered rows are dropped and
their later records, states and global states are not re-emitted). Other streams carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sync_platform.destinations.google_sheets.buffer import FlushBuffer, RecordError
from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.errors import SheetsDestinationError
from sync_platform.destinations.google_sheets.plan import FlushPlan
from sync_platform.destinations.google_sheets.session import SheetsSession
from sync_platform.engine.destination_kit import COUNTS, CommitFence
from sync_platform.errors import FailureKind, failure_kind_of
from sync_platform.protocol import LogLevel, Message, RecordMessage, log

logger = logging.getLogger(__name__)
COALESCE_FACTOR = 10  # how far past the cell target a buffer may grow while a flush is in flight
BUFFER = "buffer"  # the fence's one batch: everything buffered goes out in the same flush


class SheetsWriter:
    """One run of ``write``: owns the buffer, the commit fence and the flush in flight."""

    def __init__(self, session: SheetsSession, config: GoogleSheetsDestinationConfig) -> None:
        self.session = session
        self.config = config
        self.buffer = FlushBuffer()
        self.fence = CommitFence(on_stream_failed=self.buffer.drop)
        self.flight: asyncio.Task[FlushPlan] | None = None
        self.released: list[Message] = []  # what the fence let go while a flush was landing
        self.totals: dict[str, int] = dict.fromkeys(COUNTS, 0)

    async def run(self, messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        try:
            for stream, conflict in self.session.conflicts.items():
                self.fence.fail([stream], str(conflict), conflict.failure_kind)
            async for message in messages:
                if isinstance(message, RecordMessage):
                    self._accept(message)
                else:
                    self.fence.add(message)
                if self._full() and (self.flight is None or self.flight.done() or self._at_cap()):
                    await self._launch()
                for out in self._ready():
                    yield out
            await self._launch()
            for out in self._ready():  # what the previous flush released, before the last one lands
                yield out
            await self._land()
            for out in self._ready():
                yield out
        finally:
            if self.flight is not None:  # closed early: the flush is abandoned, its states never sent
                self.flight.cancel()
                if self.flight.done() and not self.flight.cancelled():
                    self.flight.exception()  # retrieved, so asyncio does not warn about it
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

    def _accept(self, message: RecordMessage) -> None:
        stream = message.record.stream
        if self.fence.rejects(stream):
            self.fence.drop(stream)
            return
        if stream not in self.session.streams:
            self.fence.drop(stream)
            self.fence.fail(
                [stream],
                f"Stream {stream!r} is not in the catalog this write was started with.",
                FailureKind.CONFIG,
            )
            return
        try:
            self.buffer.add(self.session.rows_for(stream), message.record)
        except RecordError as error:
            self.fence.drop(stream)
            self.fence.fail([stream], str(error), error.failure_kind)
            return
        self.fence.record(message, BUFFER)

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

    async def _launch(self) -> None:
        """Send the buffer as the next flush, once the one in flight has landed (and the fence has
        learnt its outcome: a stream it failed must not be flushed again)."""
        await self._land()
        changes = self.buffer.take()
        if changes:
            self.flight = asyncio.create_task(self.session.flush(dict(changes)))
            self.fence.seal(BUFFER, self.flight, on_commit=self._flushed, on_error=self._flush_failed)

    async def _land(self) -> None:
        """Wait for the flush in flight and let the fence settle it (its outcome is reported in order)."""
        if self.flight is not None:
            with contextlib.suppress(Exception):  # the fence reports it
                await self.flight
            self.flight = None
        self.released.extend(self.fence.ready())

    def _ready(self) -> list[Message]:
        released, self.released = self.released, []
        return [*released, *self.fence.ready()]

    def _flushed(self, plan: FlushPlan) -> list[Message]:
        out: list[Message] = []
        for stream, outcome in plan.outcomes.items():
            report = outcome.report(stream, stream)
            counts = report.counts()
            for name in self.totals:
                self.totals[name] += counts[name]
            out.append(report.to_log(f"google_sheets: flushed {stream}", LogLevel.INFO))
            writer = self.session.rows_for(stream).cell_writer
            if writer.truncated:
                out.append(
                    log(
                        LogLevel.WARN,
                        f"google_sheets: {writer.truncated} value(s) of stream {stream!r} exceeded 50,000 "
                        "characters and were truncated (marked '…[truncated by sync_platform]').",
                        data={"stream": stream, "truncated": writer.truncated},
                    )
                )
                writer.truncated = 0
        return out

    def _flush_failed(self, error: BaseException) -> tuple[str, FailureKind]:
        if not isinstance(error, SheetsDestinationError):
            raise error  # a bug, not a failed write: let it surface
        logger.error("google_sheets flush failed: %s", error)
        return str(error), failure_kind_of(error)
