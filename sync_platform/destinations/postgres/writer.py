"""The write loop: buffer records per stream, flush in the background, re-emit states behind a fence.

Records are encoded as they arrive and buffered per stream (at most ``batch_size`` each). A full
buffer, or a ``source_state`` of its stream, hands the batch to the flush queue (a task on the same
event loop) and the loop carries on reading; at most ``MAX_IN_FLIGHT`` batches wait there, so
memory stays flat. A ``global`` state flushes every stream's buffer first.

What leaves, and when, is the destination kit's commit fence (``engine/destination_kit/fence.py``):
one batch per stream, a record echoed once its flush committed, a state once everything before it
did, nothing of a stream after one of its flushes failed. A failure is reported once as
``stream_status: error``, with its kind (``errors.postgres_failure_kind``: a value the database
refuses is ``invalid_request``, a connection lost mid-batch ``transient``); other streams carry on.
"""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
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
from sync_platform.engine.destination_kit import COUNTS, CommitFence, is_tombstone
from sync_platform.errors import FailureKind
from sync_platform.protocol import (
    ConfiguredCatalog,
    GlobalStatePayload,
    Message,
    RecordMessage,
    SourceStateMessage,
)

MAX_IN_FLIGHT = 2
YIELD_EVERY = 32
"""Records encoded between two turns given to the event loop. A source that never waits (a file, a
generator) would otherwise keep the loop from running the flush task, and the server would idle
between the statements of a flush until the next batch is full."""


@dataclass(eq=False)
class _Stream:
    name: str
    layout: StreamLayout | None
    layout_error: StreamLayoutError | None = None
    encoder: RecordEncoder | None = None
    statements: StreamStatements | None = None
    lines: list[bytes] = field(default_factory=list)
    keys: set[tuple[str, ...]] = field(default_factory=set)
    duplicates: bool = False
    tombstones: int = 0
    guarded: set[str] = field(default_factory=set)  # columns this batch must read the guarded way
    repair_reported: bool = False
    totals: Counter[str] = field(default_factory=Counter)

    def take_buffer(self) -> StagedBatch:
        """The buffered batch; the buffer starts over empty."""
        batch = StagedBatch(
            payload=b"".join(self.lines),
            records=len(self.lines),
            live=len(self.lines) - self.tombstones,
            tombstones=self.tombstones,
            has_duplicate_keys=self.duplicates,
            guarded_columns=frozenset(self.guarded),
        )
        self.lines, self.keys = [], set()
        self.duplicates, self.tombstones, self.guarded = False, 0, set()
        return batch


class StreamWriter:
    """One ``write()`` call's state: buffers, the commit fence and the flush queue."""

    def __init__(self, config: PostgresDestinationConfig, catalog: ConfiguredCatalog) -> None:
        self.config = config
        self.schema = config.schema_name
        self.queue = WriterQueue(config)
        self.streams: dict[str, _Stream] = {}
        # Not a bound method of this writer: the fence would hold the writer that holds it, and
        # that cycle kept every stream's layout, encoder and statements until a full collection.
        self.fence = CommitFence(on_stream_failed=functools.partial(_discard, self.streams))
        self._encoded = 0
        self._batch_size = config.batch_size  # read per record: a plain attribute is cheaper
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
        else:
            self.fence.add(message)

    async def _record(self, message: RecordMessage) -> None:
        record = message.record
        stream = self.streams.get(record.stream)
        if stream is None or stream.layout is None:  # the rare cases first: it reports them
            stream = self._stream(record.stream)
        if self.fence.rejects(stream.name):
            self.fence.drop(stream.name)
            return
        if stream.encoder is None:
            await self._prepare(stream)
            if self.fence.rejects(stream.name):
                self.fence.drop(stream.name)
                return
        assert stream.encoder is not None  # set by _prepare unless it rejected the stream
        deleted = is_tombstone(record)
        try:
            encoded = stream.encoder.encode(record.data, deleted=deleted)
        except RecordContractError as error:
            self.fence.drop(stream.name)
            self.fence.fail([stream.name], str(error), error.failure_kind)
            return
        if encoded.repaired and not stream.repair_reported:
            stream.repair_reported = True
            self.fence.add(reports.repaired(stream.name, encoded.key))
        if not deleted:
            guarded, mismatches = stream.encoder.inspect(encoded.data)
            if guarded:  # usually not: no generator to make
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
        self.fence.record(message, stream.name)
        stream.tombstones += deleted
        if len(stream.lines) >= self._batch_size:
            await self._submit(stream)

    async def _state(self, message: SourceStateMessage) -> None:
        payload = message.source_state
        if isinstance(payload, GlobalStatePayload):
            for stream in self.streams.values():
                await self._submit(stream)
        else:
            await self._submit(self._stream(payload.stream))
        self.fence.add(message)

    def _stream(self, name: str) -> _Stream:
        stream = self.streams.get(name)
        if stream is None:  # the engine holds records to the catalog; a direct caller may not
            stream = self.streams[name] = _Stream(name, None)
            self.fence.fail(
                [name],
                f"Stream {name!r} is not in the configured catalog, so the postgres destination has no "
                "table for it; its records are not written. Add the stream to the pipeline.",
                FailureKind.CONFIG,
            )
        elif stream.layout is None and not self.fence.rejects(name):
            error = stream.layout_error or StreamLayoutError(
                f"Stream {name!r} cannot be laid out as a table."
            )
            self.fence.fail([name], str(error), error.failure_kind)
        return stream

    async def _prepare(self, stream: _Stream) -> None:
        assert stream.layout is not None
        layout = stream.layout
        try:
            prepared = await asyncio.to_thread(prepare_stream, self.config, layout)
        except Exception as error:
            message = self._flush_error(stream, error, records=1)
            self.fence.fail([stream.name], message, postgres_failure_kind(error))
            return
        stream.encoder = RecordEncoder(layout, prepared.columns)
        stream.statements = StreamStatements(self.schema, layout, prepared.columns)
        where = f"{self.schema}.{layout.table}"
        report = prepared.report
        if report.created or report.added_columns:
            self.fence.add(reports.table_changed(stream.name, where, report.created, report.added_columns))
        for note in [*report.type_conflicts, *prepared.notes]:
            self.fence.add(reports.table_note(stream.name, where, note))

    # --- flushing ------------------------------------------------------------------------------

    async def _submit(self, stream: _Stream) -> None:
        """Hand the stream's buffer to the flush queue; wait while too many batches are queued."""
        if not stream.lines or stream.statements is None:
            return
        batch = stream.take_buffer()
        future = self.queue.submit(functools.partial(flush, statements=stream.statements, batch=batch))
        self.fence.seal(
            stream.name,
            future,
            on_commit=functools.partial(self._committed, stream),
            on_error=functools.partial(self._failed, stream, batch.records),
        )
        unfinished = self.fence.unfinished()
        if len(unfinished) > MAX_IN_FLIGHT:
            await asyncio.wait({unfinished[0]})

    async def finish(self) -> None:
        """Flush every buffer and wait for every batch (end of input)."""
        for stream in self.streams.values():
            await self._submit(stream)
        unfinished = self.fence.unfinished()
        if unfinished:
            await asyncio.wait(unfinished)

    async def close(self) -> None:
        """Stop: drop queued batches, cancel the running one, release the connection."""
        await self.queue.close()

    def _committed(self, stream: _Stream, stats: FlushStats) -> list[Message]:
        for name in COUNTS:
            stream.totals[name] += getattr(stats, name)
        stream.totals["records"] += stats.records
        assert stream.layout is not None  # only laid-out streams are flushed
        return [reports.flush_stats(stream.name, f"{self.schema}.{stream.layout.table}", stats)]

    def _failed(self, stream: _Stream, records: int, error: BaseException) -> tuple[str, FailureKind]:
        return self._flush_error(stream, error, records=records), postgres_failure_kind(error)

    # --- output --------------------------------------------------------------------------------

    def ready(self) -> list[Message]:
        """Every message whose turn has come, in order (the fence's rule)."""
        return self.fence.ready()

    def summary(self) -> list[Message]:
        """One info line of totals per write, and a warning per stream that lost records."""
        dropped = self.fence.dropped
        out: list[Message] = [
            reports.not_written(s.name, dropped[s.name]) for s in self.streams.values() if dropped[s.name]
        ]
        totals = {s.name: dict(s.totals) for s in self.streams.values() if s.totals}
        if totals:
            out.append(reports.totals(self.schema, totals))
        return out

    # --- messages ------------------------------------------------------------------------------

    def _flush_error(self, stream: _Stream, error: BaseException, *, records: int) -> str:
        table = f"{self.schema}.{stream.layout.table}" if stream.layout else "(no table)"
        return reports.flush_failed(stream.name, table, records, describe_error(error, self.config))

    def _warn_mismatch(
        self, stream: _Stream, column: TypedColumn, value: object, key: tuple[str, ...]
    ) -> None:
        self.fence.add(reports.mismatch(stream.name, column, value, key))


def _discard(streams: dict[str, _Stream], name: str) -> None:
    """The fence failed the stream: forget its buffer (the fence dropped its records)."""
    stream = streams.get(name)
    if stream is not None:
        stream.take_buffer()
