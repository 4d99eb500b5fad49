"""The write loop: buffer records per stream, flush in the background, re-emit states behind a fence.

Records are encoded as they arrive and buffered per stream (at most ``batch_size`` each). A full
buffer, or a ``source_state`` of its stream, hands the batch to the flush queue (a task on the same
event loop) and the loop carries on reading; at most ``MAX_IN_FLIGHT`` batches wait there, so
memory stays flat.

Everything the loop owes its caller goes through one ordered outbox, and an entry leaves only when
every entry before it has: records are echoed once their flush committed, a stream's state once
every earlier flush did (the commit fence), a ``global`` state once every stream's buffer was
flushed and committed (reference bug #8), and nothing of a stream after one of its flushes failed.
A failure is reported once as ``stream_status: error``, with its kind (``errors.postgres_failure_kind``:
a value the database refuses is ``invalid_request``, a connection lost mid-batch ``transient``);
other streams carry on.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sync_platform.destinations.postgres import reports
from sync_platform.destinations.postgres.config import PostgresDestinationConfig
from sync_platform.destinations.postgres.connection import WriterQueue, describe_error
from sync_platform.destinations.postgres.encoding import RecordEncoder
from sync_platform.destinations.postgres.errors import (
    RecordContractError,
    StreamLayoutError,
    postgres_failure_kind,
)
from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn, stream_layout
from sync_platform.destinations.postgres.provision import prepare_stream
from sync_platform.destinations.postgres.upsert import (
    FlushStats,
    StagedBatch,
    StreamStatements,
    flush,
)
from sync_platform.errors import FailureKind
from sync_platform.protocol import (
    ConfiguredCatalog,
    GlobalStatePayload,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamComplete,
    StreamRangeComplete,
    StreamStatusMessage,
    stream_error,
)

MAX_IN_FLIGHT = 2
YIELD_EVERY = 32
"""Records encoded between two turns given to the event loop. A source that never waits (a file, a
generator) would otherwise keep the loop from running the flush task, and the server would idle
between the statements of a flush until the next batch is full."""
STAT_FIELDS = ("inserted", "updated", "skipped_stale", "deleted")


@dataclass(eq=False)
class _Stream:
    name: str
    layout: StreamLayout | None
    layout_error: StreamLayoutError | None = None
    encoder: RecordEncoder | None = None
    statements: StreamStatements | None = None
    lines: list[bytes] = field(default_factory=list)
    records: list[RecordMessage] = field(default_factory=list)
    keys: set[tuple[str, ...]] = field(default_factory=set)
    duplicates: bool = False
    tombstones: int = 0
    guarded: set[str] = field(default_factory=set)  # columns this batch must read the guarded way
    rejecting: bool = False  # stop taking records: a failure is known (or queued)
    failed: bool = False  # a failure was reached in output order: later states are dropped
    dropped: int = 0
    repair_reported: bool = False
    totals: Counter[str] = field(default_factory=Counter)

    def take_buffer(self) -> tuple[StagedBatch, list[RecordMessage]]:
        """The buffered batch and its record messages; the buffer starts over empty."""
        batch = StagedBatch(
            payload=b"".join(self.lines),
            records=len(self.lines),
            live=len(self.lines) - self.tombstones,
            tombstones=self.tombstones,
            has_duplicate_keys=self.duplicates,
            guarded_columns=frozenset(self.guarded),
        )
        records = self.records
        self.lines, self.records, self.keys = [], [], set()
        self.duplicates, self.tombstones, self.guarded = False, 0, set()
        return batch, records


@dataclass(frozen=True)
class _Pass:
    message: Message


@dataclass(frozen=True)
class _Fail:
    stream: _Stream
    error: str
    kind: FailureKind


@dataclass(frozen=True)
class _Flush:
    stream: _Stream
    future: asyncio.Future[FlushStats]
    records: list[RecordMessage]


@dataclass(frozen=True)
class _State:
    message: SourceStateMessage
    stream: _Stream | None  # None: a global state, fencing every stream


@dataclass(frozen=True)
class _SourceStatus:
    message: StreamStatusMessage
    stream: _Stream


_Entry = _Pass | _Fail | _Flush | _State | _SourceStatus


class StreamWriter:
    """One ``write()`` call's state: buffers, the outbox and the flush queue."""

    def __init__(self, config: PostgresDestinationConfig, catalog: ConfiguredCatalog) -> None:
        self.config = config
        self.schema = config.schema_name
        self.queue = WriterQueue(config)
        self.outbox: deque[_Entry] = deque()
        self._encoded = 0
        self.streams: dict[str, _Stream] = {}
        for configured in catalog.streams:
            try:
                self.streams[configured.name] = _Stream(configured.name, stream_layout(configured.stream))
            except StreamLayoutError as error:
                self.streams[configured.name] = _Stream(configured.name, None, layout_error=error)

    # --- input ---------------------------------------------------------------------------------

    async def accept(self, message: Message) -> None:
        if isinstance(message, RecordMessage):
            await self._record(message)
        elif isinstance(message, SourceStateMessage):
            await self._state(message)
        elif isinstance(message, StreamStatusMessage) and isinstance(
            message.stream_status, StreamComplete | StreamRangeComplete
        ):
            stream = self.streams.get(message.stream_status.stream)
            self.outbox.append(_SourceStatus(message, stream) if stream else _Pass(message))
        else:
            self.outbox.append(_Pass(message))

    async def _record(self, message: RecordMessage) -> None:
        stream = self._stream(message.record.stream)
        if stream.rejecting:
            stream.dropped += 1
            return
        if stream.encoder is None:
            await self._prepare(stream)
            if stream.rejecting:
                stream.dropped += 1
                return
        assert stream.encoder is not None  # set by _prepare unless it rejected the stream
        deleted = bool(message.record.record_deleted)
        try:
            encoded = stream.encoder.encode(message.record.data, deleted=deleted)
        except RecordContractError as error:
            self._reject(stream, str(error), error.failure_kind, dropping=1)
            return
        if encoded.repaired and not stream.repair_reported:
            stream.repair_reported = True
            self._warn_repaired(stream, encoded.key)
        if not deleted:
            guarded, mismatches = stream.encoder.inspect(encoded.data)
            stream.guarded.update(column.name for column in guarded)
            for mismatch in mismatches:
                self._warn_mismatch(stream, mismatch.column, mismatch.value, encoded.key)
        if encoded.key in stream.keys:
            stream.duplicates = True
        else:
            stream.keys.add(encoded.key)
        self._encoded += 1
        if self._encoded % YIELD_EVERY == 0:
            await asyncio.sleep(0)  # let a flush waiting on the server send its next statement
        stream.lines.append(encoded.line)
        stream.records.append(message)
        stream.tombstones += deleted
        if len(stream.lines) >= self.config.batch_size:
            await self._submit(stream)

    async def _state(self, message: SourceStateMessage) -> None:
        payload = message.source_state
        if isinstance(payload, GlobalStatePayload):
            for stream in self.streams.values():
                await self._submit(stream)
            self.outbox.append(_State(message, None))
            return
        stream = self._stream(payload.stream)
        await self._submit(stream)
        self.outbox.append(_State(message, stream))

    def _stream(self, name: str) -> _Stream:
        stream = self.streams.get(name)
        if stream is None:  # the engine holds records to the catalog; a direct caller may not
            stream = self.streams[name] = _Stream(name, None)
            self._reject(
                stream,
                f"Stream {name!r} is not in the configured catalog, so the postgres destination has no "
                "table for it; its records are not written. Add the stream to the pipeline.",
                FailureKind.CONFIG,
            )
        elif stream.layout is None and not stream.rejecting:
            error = stream.layout_error or StreamLayoutError(
                f"Stream {name!r} cannot be laid out as a table."
            )
            self._reject(stream, str(error), error.failure_kind)
        return stream

    async def _prepare(self, stream: _Stream) -> None:
        assert stream.layout is not None
        layout = stream.layout
        try:
            prepared = await asyncio.to_thread(prepare_stream, self.config, layout)
        except Exception as error:
            self._reject(stream, self._flush_error(stream, error, records=1), postgres_failure_kind(error))
            return
        stream.encoder = RecordEncoder(layout, prepared.columns)
        stream.statements = StreamStatements(self.schema, layout, prepared.columns)
        where = f"{self.schema}.{layout.table}"
        report = prepared.report
        if report.created or report.added_columns:
            self.outbox.append(
                _Pass(reports.table_changed(stream.name, where, report.created, report.added_columns))
            )
        for note in [*report.type_conflicts, *prepared.notes]:
            self.outbox.append(_Pass(reports.table_note(stream.name, where, note)))

    # --- flushing ------------------------------------------------------------------------------

    async def _submit(self, stream: _Stream) -> None:
        """Hand the stream's buffer to the flush queue; wait while too many batches are queued."""
        if not stream.lines or stream.statements is None:
            return
        batch, records = stream.take_buffer()
        future = self.queue.submit(functools.partial(flush, statements=stream.statements, batch=batch))
        self.outbox.append(_Flush(stream, future, records))
        pending = [
            entry.future for entry in self.outbox if isinstance(entry, _Flush) and not entry.future.done()
        ]
        if len(pending) > MAX_IN_FLIGHT:
            await asyncio.wait({pending[0]})

    async def finish(self) -> None:
        """Flush every buffer and wait for every batch (end of input)."""
        for stream in self.streams.values():
            await self._submit(stream)
        futures = {entry.future for entry in self.outbox if isinstance(entry, _Flush)}
        if futures:
            await asyncio.wait(futures)

    async def close(self) -> None:
        """Stop: drop queued batches, cancel the running one, release the connection."""
        await self.queue.close()

    # --- output --------------------------------------------------------------------------------

    def ready(self) -> list[Message]:
        """Pop every outbox entry whose turn has come, in order; stop at an unfinished flush."""
        out: list[Message] = []
        while self.outbox:
            entry = self.outbox[0]
            if isinstance(entry, _Flush) and not entry.future.done():
                break
            self.outbox.popleft()
            out.extend(self._settle(entry))
        return out

    def _settle(self, entry: _Entry) -> Iterable[Message]:
        match entry:
            case _Pass(message=message):
                return [message]
            case _Fail(stream=stream, error=error, kind=kind):
                if stream.failed:  # already reported
                    return []
                stream.failed = True
                return [stream_error(stream.name, error, kind)]
            case _Flush(stream=stream, future=future, records=records):
                return self._settle_flush(stream, future, records)
            case _State(message=message, stream=None):
                return [] if any(s.failed for s in self.streams.values()) else [message]
            case _State(message=message, stream=stream) | _SourceStatus(message=message, stream=stream):
                return [] if stream is None or stream.failed else [message]
        return []  # pragma: no cover - the match above is exhaustive

    def _settle_flush(
        self, stream: _Stream, future: asyncio.Future[FlushStats], records: list[RecordMessage]
    ) -> list[Message]:
        if future.cancelled():
            return []
        error = future.exception()
        if error is not None:
            stream.dropped += len(records)
            if stream.failed:
                return []
            stream.failed = stream.rejecting = True
            stream.dropped += len(stream.records)
            stream.take_buffer()
            message = self._flush_error(stream, error, records=len(records))
            return [stream_error(stream.name, message, postgres_failure_kind(error))]
        stats = future.result()
        for name in STAT_FIELDS:
            stream.totals[name] += getattr(stats, name)
        stream.totals["records"] += stats.records
        assert stream.layout is not None  # only laid-out streams are flushed
        return [*records, reports.flush_stats(stream.name, f"{self.schema}.{stream.layout.table}", stats)]

    def summary(self) -> list[Message]:
        """One info line of totals per write, and a warning per stream that lost records."""
        out: list[Message] = [
            reports.not_written(s.name, s.dropped) for s in self.streams.values() if s.dropped
        ]
        totals = {s.name: dict(s.totals) for s in self.streams.values() if s.totals}
        if totals:
            out.append(reports.totals(self.schema, totals))
        return out

    # --- messages ------------------------------------------------------------------------------

    def _reject(self, stream: _Stream, error: str, kind: FailureKind, *, dropping: int = 0) -> None:
        stream.rejecting = True
        stream.dropped += dropping + len(stream.records)
        stream.take_buffer()
        self.outbox.append(_Fail(stream, error, kind))

    def _flush_error(self, stream: _Stream, error: BaseException, *, records: int) -> str:
        table = f"{self.schema}.{stream.layout.table}" if stream.layout else "(no table)"
        return reports.flush_failed(stream.name, table, records, describe_error(error, self.config))

    def _warn_mismatch(
        self, stream: _Stream, column: TypedColumn, value: object, key: tuple[str, ...]
    ) -> None:
        self.outbox.append(_Pass(reports.mismatch(stream.name, column, value, key)))

    def _warn_repaired(self, stream: _Stream, key: tuple[str, ...]) -> None:
        self.outbox.append(_Pass(reports.repaired(stream.name, key)))
