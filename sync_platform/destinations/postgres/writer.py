"""The write loop: buffer records per stream, flush in the background, re-emit states behind a fence.

Records are encoded as they arrive and buffered per stream (at most ``batch_size`` each). A full
buffer, or a ``source_state`` of its stream, hands the batch to the flush queue (a task on the same
event loop) and the loop carries on reading; at most ``MAX_IN_FLIGHT`` batches wait there, so
memory stays flat.

Everything the loop owes its caller goes through one ordered outbox, and an entry leaves only when
every entry before it has: records are echoed once their flush committed, a stream's state once
every earlier flush did (the commit fence), a ``global`` state once every stream's buffer was
flushed and committed (reference bug #8), and nothing of a stream after one of its flushes failed.
A failure is reported once as ``stream_status: error``; other streams carry on.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from sync_platform.destinations.postgres.config import PostgresDestinationConfig
from sync_platform.destinations.postgres.connection import WriterQueue, connect, describe_error
from sync_platform.destinations.postgres.ddl import (
    TableReport,
    ensure_schema,
    ensure_table,
    lock_schema,
    read_columns,
    writable_columns,
)
from sync_platform.destinations.postgres.encoding import RecordEncoder
from sync_platform.destinations.postgres.errors import RecordContractError, StreamLayoutError
from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn, stream_layout
from sync_platform.destinations.postgres.type_rules import json_type
from sync_platform.destinations.postgres.upsert import (
    FlushStats,
    StagedBatch,
    StreamStatements,
    flush,
)
from sync_platform.protocol import (
    ConfiguredCatalog,
    GlobalStatePayload,
    LogLevel,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamComplete,
    StreamRangeComplete,
    StreamStatusMessage,
    log,
    stream_error,
)

MAX_IN_FLIGHT = 2
YIELD_EVERY = 32
"""Records encoded between two turns given to the event loop. A source that never waits (a file, a
generator) would otherwise keep the loop from running the flush task, and the server would idle
between the statements of a flush until the next batch is full."""
STAT_FIELDS = ("inserted", "updated", "skipped_stale", "deleted")


@dataclass(frozen=True)
class PreparedStream:
    columns: list[TypedColumn]
    notes: list[str]
    report: TableReport


def prepare_stream(config: PostgresDestinationConfig, layout: StreamLayout) -> PreparedStream:
    """Make sure the stream's table exists with the catalog's columns; learn its actual types.

    Blocking (DDL shares its code with setup): the write loop runs it in a worker thread, once per
    stream and write.
    """
    schema = config.schema_name
    with connect(config) as connection, connection.transaction():
        lock_schema(connection, schema)
        ensure_schema(connection, schema)
        report = ensure_table(connection, schema, layout)
        existing = read_columns(connection, schema, layout.table) or {}
    columns, notes = writable_columns(layout, existing)
    return PreparedStream(columns, notes, report)


@dataclass(eq=False)
class _Stream:
    name: str
    layout: StreamLayout | None
    layout_error: str | None = None
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


@dataclass(frozen=True)
class _Pass:
    message: Message


@dataclass(frozen=True)
class _Fail:
    stream: _Stream
    error: str


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
                self.streams[configured.name] = _Stream(configured.name, None, layout_error=str(error))

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
            self._reject(stream, str(error), dropping=1)
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
            )
        elif stream.layout is None and not stream.rejecting:
            self._reject(stream, stream.layout_error or f"Stream {name!r} cannot be laid out as a table.")
        return stream

    async def _prepare(self, stream: _Stream) -> None:
        assert stream.layout is not None
        layout = stream.layout
        try:
            prepared = await asyncio.to_thread(prepare_stream, self.config, layout)
        except Exception as error:
            self._reject(stream, self._flush_error(stream, error, records=1))
            return
        stream.encoder = RecordEncoder(layout, prepared.columns)
        stream.statements = StreamStatements(self.schema, layout, prepared.columns)
        where = f"{self.schema}.{layout.table}"
        if prepared.report.created or prepared.report.added_columns:
            added = ", ".join(prepared.report.added_columns)
            what = "created the table" if prepared.report.created else f"added columns {added}"
            self.outbox.append(
                _Pass(log(LogLevel.INFO, f"postgres: {what} {where} for stream {stream.name!r}"))
            )
        for note in [*prepared.report.type_conflicts, *prepared.notes]:
            self.outbox.append(
                _Pass(log(LogLevel.WARN, f"postgres: {where}: {note}", {"stream": stream.name, "note": note}))
            )

    # --- flushing ------------------------------------------------------------------------------

    async def _submit(self, stream: _Stream) -> None:
        """Hand the stream's buffer to the flush queue; wait while too many batches are queued."""
        if not stream.lines or stream.statements is None:
            return
        batch = StagedBatch(
            payload=b"".join(stream.lines),
            records=len(stream.lines),
            live=len(stream.lines) - stream.tombstones,
            tombstones=stream.tombstones,
            has_duplicate_keys=stream.duplicates,
            guarded_columns=frozenset(stream.guarded),
        )
        records = stream.records
        stream.lines, stream.records, stream.keys = [], [], set()
        stream.duplicates, stream.tombstones, stream.guarded = False, 0, set()
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
            case _Fail(stream=stream, error=error):
                if stream.failed:  # already reported
                    return []
                stream.failed = True
                return [stream_error(stream.name, error)]
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
            stream.lines, stream.records, stream.keys = [], [], set()
            return [stream_error(stream.name, self._flush_error(stream, error, records=len(records)))]
        stats = future.result()
        for name in STAT_FIELDS:
            stream.totals[name] += getattr(stats, name)
        stream.totals["records"] += stats.records
        return [*records, self._stats_log(stream, stats)]

    def summary(self) -> list[Message]:
        """One info line of totals per write, and a warning per stream that lost records."""
        out: list[Message] = []
        for stream in self.streams.values():
            if stream.dropped:
                out.append(
                    log(
                        LogLevel.WARN,
                        f"postgres: {stream.dropped} records of stream {stream.name!r} were not written "
                        "because the stream failed in this run; the next run resumes from its last "
                        "committed checkpoint.",
                        {"stream": stream.name, "not_written": stream.dropped},
                    )
                )
        totals = {s.name: dict(s.totals) for s in self.streams.values() if s.totals}
        if totals:
            written = sum(t["records"] for t in totals.values())
            out.append(
                log(
                    LogLevel.INFO,
                    f"postgres: wrote {written} records to schema {self.schema!r}",
                    {"streams": totals},
                )
            )
        return out

    # --- messages ------------------------------------------------------------------------------

    def _reject(self, stream: _Stream, error: str, *, dropping: int = 0) -> None:
        stream.rejecting = True
        stream.dropped += dropping + len(stream.records)
        stream.lines, stream.records, stream.keys = [], [], set()
        stream.tombstones, stream.duplicates, stream.guarded = 0, False, set()
        self.outbox.append(_Fail(stream, error))

    def _flush_error(self, stream: _Stream, error: BaseException, *, records: int) -> str:
        table = f"{self.schema}.{stream.layout.table}" if stream.layout else "(no table)"
        return (
            f"Writing {records} record(s) of stream {stream.name!r} to {table} failed: "
            f"{describe_error(error, self.config)}. Nothing of that batch was committed and the "
            "stream's checkpoint did not advance; its later records are not written in this run. "
            "Fix the cause and run the sync again: it resumes from the last committed checkpoint."
        )

    def _stats_log(self, stream: _Stream, stats: FlushStats) -> Message:
        assert stream.layout is not None
        data = {
            "stream": stream.name,
            "table": f"{self.schema}.{stream.layout.table}",
            "records": stats.records,
            "inserted": stats.inserted,
            "updated": stats.updated,
            "skipped_stale": stats.skipped_stale,
            "deleted": stats.deleted,
            "duration_ms": stats.duration_ms,
        }
        return log(LogLevel.DEBUG, f"postgres: flushed {stats.records} records of {stream.name!r}", data)

    def _warn_mismatch(
        self, stream: _Stream, column: TypedColumn, value: object, key: tuple[str, ...]
    ) -> None:
        self.outbox.append(_Pass(self._mismatch_log(stream, column, value, key)))

    def _mismatch_log(
        self, stream: _Stream, column: TypedColumn, value: object, key: tuple[str, ...] | None
    ) -> Message:
        got = json_type(value)
        where = f", record {list(key)}" if key is not None else ""
        message = (
            f"postgres: stream {stream.name!r}{where}: field {column.field!r} is a {got} but "
            f"column {column.name!r} ({column.pg_type}) keeps only {column.kind.accepted}, so the column "
            "is NULL for this record; _raw_data keeps the value. Further mismatches in this column are not "
            "reported in this run."
        )
        data = {"stream": stream.name, "column": column.name, "expected": column.kind.value, "got": got}
        return log(LogLevel.WARN, message, data)

    def _warn_repaired(self, stream: _Stream, key: tuple[str, ...]) -> None:
        message = (
            f"postgres: stream {stream.name!r}, record {list(key)} held values PostgreSQL cannot store "
            "(NUL characters or lone surrogates, replaced by U+FFFD; NaN or infinity, stored as null). "
            "Reported once per stream and run."
        )
        self.outbox.append(_Pass(log(LogLevel.WARN, message, {"stream": stream.name})))
