"""The commit fence: what a destination's ``write`` yields, and when.

Everything leaves in input order, and nothing leaves before what came before it:

- a record is echoed once the flush that carried it has committed;
- any other message leaves once everything before it has left, so a stream's ``source_state`` is
  re-emitted only after every record before it is durable, and a ``global`` state (which fences
  every stream) after every stream's records before it are;
- a flush that fails fails every stream it carried: one ``stream_status: error`` each, with the
  failure's kind, and from then on that stream's records are not written in this run and its
  states, ``complete`` and ``range_complete`` are dropped; no ``global`` state is re-emitted once
  any stream has failed (its cursor would skip the failed stream's unwritten records);
- a stream can also fail before any flush (a record without its key, a table that is not ours):
  ``fail`` drops its records not yet flushed and puts its error where the first of them stood, so
  no state after them is re-emitted either.

The destination keeps the data and decides when to flush (a full buffer, a state, the end of
input); it tells the fence which records belong to which open *batch* (``record``), and hands over
each batch's flush as an awaitable when it starts it (``seal``). ``ready`` then gives whatever may
leave now. A batch is the destination's unit of atomicity: the PostgreSQL destination keeps one per
stream, the Google Sheets destination one for all streams (one ``batchUpdate``).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection, Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sync_platform.errors import FailureKind
from sync_platform.protocol import (
    GlobalStatePayload,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamComplete,
    StreamRangeComplete,
    StreamStatusMessage,
    stream_error,
)

OnCommit = Callable[[Any], list[Message]]
"""Given the flush's result, the messages to yield after its records (statistics, warnings)."""
OnError = Callable[[BaseException], tuple[str, FailureKind]]
"""Given the flush's exception, the error text and kind reported for each stream it carried (it may
re-raise an exception that is a bug rather than a failed write)."""


class _Outcome(Enum):
    OPEN = "open"  # still taking records, or flushing
    COMMITTED = "committed"
    FAILED = "failed"
    ABANDONED = "abandoned"  # the flush was cancelled: the write is being stopped


@dataclass(eq=False)
class _Batch:
    chunks: list[_Chunk] = field(default_factory=list)  # while open
    task: asyncio.Future[Any] | None = None
    on_commit: OnCommit | None = None
    on_error: OnError | None = None
    streams: frozenset[str] = frozenset()
    outcome: _Outcome = _Outcome.OPEN
    result: Any = None


@dataclass(eq=False)
class _Chunk:
    """Consecutive records of one stream in one batch."""

    batch: _Batch
    stream: str
    records: list[RecordMessage]
    dropped: bool = False


@dataclass(eq=False)
class _Pass:
    message: Message


@dataclass(eq=False)
class _Failure:
    streams: tuple[str, ...]
    error: str
    kind: FailureKind


@dataclass(eq=False)
class _Report:
    """Where a sealed batch's ``on_commit`` messages go: right after its last record."""

    batch: _Batch


_Entry = _Chunk | _Pass | _Failure | _Report


class CommitFence:
    """One ``write()``'s ordered outbox. Not thread-safe: use it from the write's event loop."""

    def __init__(self, on_stream_failed: Callable[[str], None] | None = None) -> None:
        """``on_stream_failed(stream)`` is called once per failed stream, as soon as the failure is
        known: the destination drops what it buffered for it (the fence has dropped the records)."""
        self._on_stream_failed = on_stream_failed
        self._outbox: deque[_Entry] = deque()
        self._open: dict[Hashable, _Batch] = {}
        self._sealed: list[_Batch] = []
        self._tail: _Chunk | None = None  # the chunk the next record of its stream and batch joins
        self._tail_batch: Hashable = None
        self._rejecting: set[str] = set()  # failures known: take no more records
        self._failed: set[str] = set()  # failures reached in output order: drop later states
        self.dropped: Counter[str] = Counter()
        """Records per stream that were not written because their stream failed."""

    # --- input ---------------------------------------------------------------------------------

    def rejects(self, stream: str) -> bool:
        """Whether ``stream`` has failed in this write: its records are to be dropped (``drop``)."""
        return stream in self._rejecting

    def drop(self, stream: str, count: int = 1) -> None:
        """Count records of ``stream`` that were not written because it failed."""
        self.dropped[stream] += count

    def record(self, message: RecordMessage, batch: Hashable) -> None:
        """An accepted record, buffered in the open batch ``batch``: echoed once that batch commits."""
        stream = message.record.stream
        tail = self._tail
        if tail is not None and tail.stream == stream and self._tail_batch == batch:
            tail.records.append(message)  # the common case: one more record of the same stream
            return
        if stream in self._rejecting:
            self.drop(stream)
            return
        open_batch = self._open.get(batch)
        if open_batch is None:
            open_batch = self._open[batch] = _Batch()
        chunk = _Chunk(open_batch, stream, [message])
        open_batch.chunks.append(chunk)
        self._outbox.append(chunk)
        self._tail, self._tail_batch = chunk, batch

    def add(self, message: Message) -> None:
        """Any message but a record: leaves in order (states and stream ends of failed streams don't)."""
        self._outbox.append(_Pass(message))
        self._tail = None

    def seal(
        self,
        batch: Hashable,
        task: Awaitable[Any],
        *,
        on_commit: OnCommit | None = None,
        on_error: OnError | None = None,
    ) -> None:
        """The open batch ``batch`` is being flushed by ``task``; later records start a new batch.

        Without ``on_error`` a failure is reported with the exception's text, kind ``internal``.
        """
        sealed = self._open.pop(batch, None) or _Batch()
        sealed.task = asyncio.ensure_future(task)
        sealed.on_commit, sealed.on_error = on_commit, on_error
        sealed.streams = frozenset(chunk.stream for chunk in sealed.chunks if not chunk.dropped)
        sealed.chunks = []  # only open batches need them; and no cycle keeps records alive past their echo
        self._sealed.append(sealed)
        self._outbox.append(_Report(sealed))
        self._tail = None

    def fail(self, streams: Collection[str], error: str, kind: FailureKind) -> None:
        """``streams`` fail now, outside any flush: their records not yet flushed are dropped."""
        failing = [stream for stream in sorted(set(streams)) if stream not in self._rejecting]
        if not failing:
            return
        first = len(self._outbox)
        for stream in failing:
            first = min(first, self._drop_open(stream))
        self._outbox.insert(first, _Failure(tuple(failing), error, kind))
        self._tail = None
        for stream in failing:
            self._reject(stream)

    def unfinished(self) -> list[asyncio.Future[Any]]:
        """The flushes still running, oldest first (to wait on, or to bound how many run)."""
        return [b.task for b in self._sealed if b.task is not None and not b.task.done()]

    # --- output --------------------------------------------------------------------------------

    def ready(self) -> list[Message]:
        """Every message whose turn has come, in order; stops at a record whose flush is unfinished."""
        out: list[Message] = []
        outbox = self._outbox
        while outbox:
            entry = outbox[0]
            if type(entry) is _Chunk and entry.dropped:
                pass  # waits for nothing
            elif type(entry) is _Chunk or type(entry) is _Report:
                batch = entry.batch
                if batch.outcome is _Outcome.OPEN:
                    task = batch.task
                    if task is None or not task.done():
                        break  # the common case while records are buffered or flushing: a cheap check
                    self._settle(batch, out)
            outbox.popleft()
            self._emit(entry, out)
        return out

    def _emit(self, entry: _Entry, out: list[Message]) -> None:
        match entry:
            case _Chunk(dropped=True):
                pass
            case _Chunk(batch=batch, stream=stream, records=records):
                if batch.outcome is _Outcome.COMMITTED:
                    out.extend(records)
                else:
                    self.drop(stream, len(records))
            case _Report(batch=batch):
                if batch.outcome is _Outcome.COMMITTED and batch.on_commit is not None:
                    out.extend(batch.on_commit(batch.result))
            case _Failure(streams=streams, error=error, kind=kind):
                self._report_failure(streams, error, kind, out)
            case _Pass(message=message):
                if self._passes(message):
                    out.append(message)

    def _settle(self, batch: _Batch, out: list[Message]) -> None:
        """Learn the outcome of a batch whose flush has finished (once)."""
        task = batch.task
        assert task is not None
        self._sealed.remove(batch)
        if task.cancelled():
            batch.outcome = _Outcome.ABANDONED
        elif (error := task.exception()) is None:
            batch.outcome, batch.result = _Outcome.COMMITTED, task.result()
        else:
            batch.outcome = _Outcome.FAILED
            if batch.on_error is not None:
                message, kind = batch.on_error(error)
            else:
                message, kind = f"{type(error).__name__}: {error}", FailureKind.INTERNAL
            self._report_failure(tuple(sorted(batch.streams)), message, kind, out)

    def _report_failure(
        self, streams: tuple[str, ...], error: str, kind: FailureKind, out: list[Message]
    ) -> None:
        for stream in streams:
            if stream in self._failed:
                continue  # one error per stream
            self._failed.add(stream)
            out.append(stream_error(stream, error, kind))
            if stream not in self._rejecting:
                self._drop_open(stream)
                self._reject(stream)

    def _passes(self, message: Message) -> bool:
        if isinstance(message, SourceStateMessage):
            payload = message.source_state
            if isinstance(payload, GlobalStatePayload):
                return not self._failed
            return payload.stream not in self._failed
        if isinstance(message, StreamStatusMessage) and isinstance(
            message.stream_status, StreamComplete | StreamRangeComplete
        ):
            return message.stream_status.stream not in self._failed
        return True

    # --- failures --------------------------------------------------------------------------------

    def _drop_open(self, stream: str) -> int:
        """Drop ``stream``'s records in open batches; the outbox index of the first, else its length."""
        doomed = {
            id(chunk)
            for batch in self._open.values()
            for chunk in batch.chunks
            if chunk.stream == stream and not chunk.dropped
        }
        first = len(self._outbox)
        if not doomed:
            return first
        for index, entry in enumerate(self._outbox):
            if id(entry) in doomed:
                assert isinstance(entry, _Chunk)
                first = min(first, index)
                entry.dropped = True
                self.drop(stream, len(entry.records))
        return first

    def _reject(self, stream: str) -> None:
        self._rejecting.add(stream)
        if self._tail is not None and self._tail.stream == stream:
            self._tail = None
        if self._on_stream_failed is not None:
            self._on_stream_failed(stream)
