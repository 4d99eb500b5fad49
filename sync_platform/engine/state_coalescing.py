"""Coalescing a stream's checkpoints: many tiny pages, one commit.

A source checkpoints after every page, which is what bounds the work a killed run repeats. But a
checkpoint that reaches the destination costs a flush (a PostgreSQL transaction, a Sheets
``batchUpdate``), a fold into the sync state, a progress snapshot and a checkpoint save, whatever
the page held. A Stripe Connect platform reads mostly pages of a few objects (one per account and
stream): at 1,000 accounts those per-checkpoint costs were most of the client's CPU, ~4 ms per
request for ~4 objects.

A stream's state is cumulative (a later one replaces an earlier one), so a state held back and
replaced by the next loses nothing; emitting a state later than its records only means the
destination commits a few more records with it. The rule, per stream:

- a state leaves at once when ``records`` or more records of its stream came since the stream's
  last state left (a full page of 100 is never held), or when ``interval`` seconds have passed
  since then (the first state of a stream always leaves at once);
- otherwise it is held, replacing the one held before; the stream's ``range_complete`` telemetry
  is held with it and leaves right after it, merged;
- a held state leaves before its stream's next terminal status (``complete``, ``error``,
  ``skip``), before any ``global`` state (which fences every stream), and when the input ends,
  including a batch cut by its state or time limit (this operator runs after the cut, so the cut
  counts the source's own checkpoints and nothing is lost at a batch boundary) and an input that
  fails (what was read before the failure is committed as before).

So a run killed outright repeats at most ``interval`` seconds of small pages per stream, on top of
the page per range in flight it always could.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Final

from sync_platform.engine.clock import Clock
from sync_platform.engine.operators import Operator
from sync_platform.protocol import (
    GlobalStatePayload,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamRangeComplete,
    StreamStatusMessage,
    merge_ranges,
)

STATE_INTERVAL: Final = 1.0
"""Seconds a stream's small-page checkpoints may be held back: the most a kill can repeat."""
STATE_RECORDS: Final = 100
"""Records of a stream since its last checkpoint that make the next one leave at once (a full
Stripe page)."""


class _Held:
    __slots__ = ("ranges", "state")

    def __init__(self, state: SourceStateMessage) -> None:
        self.state = state
        self.ranges: list[StreamStatusMessage] = []


class _Coalescer:
    """One run's held states; each method returns what may leave now, in order."""

    def __init__(self, clock: Clock, interval: float, records: int) -> None:
        self.clock, self.interval, self.records = clock, interval, records
        self.held: dict[str, _Held] = {}
        self.since: dict[str, int] = {}  # records of a stream since its last state left
        self.left_at: dict[str, float] = {}  # when its last state left (clock-monotonic)

    def state(self, message: SourceStateMessage) -> list[Message]:
        payload = message.source_state
        if isinstance(payload, GlobalStatePayload):
            return [*self.release_all(), message]
        stream = payload.stream
        now = self.clock.monotonic()
        recent = now - self.left_at.get(stream, -math.inf) < self.interval
        if recent and self.since.get(stream, 0) < self.records:
            entry = self.held.get(stream)
            if entry is None:
                self.held[stream] = _Held(message)
            else:
                entry.state = message
            return []
        entry = self.held.pop(stream, None)
        self.since[stream], self.left_at[stream] = 0, now
        return [message, *_merged(entry.ranges if entry is not None else [])]

    def status(self, message: StreamStatusMessage) -> list[Message]:
        status = message.stream_status
        entry = self.held.get(status.stream)
        if entry is None:
            return [message]
        if isinstance(status, StreamRangeComplete):
            entry.ranges.append(message)
            return []
        return [*self.release(status.stream), message]

    def release(self, stream: str) -> list[Message]:
        entry = self.held.pop(stream, None)
        if entry is None:
            return []
        self.since[stream], self.left_at[stream] = 0, self.clock.monotonic()
        return [entry.state, *_merged(entry.ranges)]

    def release_all(self) -> list[Message]:
        return [message for stream in list(self.held) for message in self.release(stream)]


def coalesce_states(
    clock: Clock, *, interval: float = STATE_INTERVAL, records: int = STATE_RECORDS
) -> Operator[Message, Message]:
    """The operator (see the module's docstring); ``interval=0`` passes every state at once."""

    async def operator(messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        coalescer = _Coalescer(clock, interval, records)
        since = coalescer.since
        async with aclosing(messages):
            try:
                async for message in messages:
                    if isinstance(message, RecordMessage):
                        stream = message.record.stream
                        since[stream] = since.get(stream, 0) + 1
                        yield message
                        continue
                    if isinstance(message, SourceStateMessage):
                        out = coalescer.state(message)
                    elif isinstance(message, StreamStatusMessage):
                        out = coalescer.status(message)
                    else:
                        out = [message]
                    for leaving in out:
                        yield leaving
            except Exception:
                for leaving in coalescer.release_all():  # what was read before the failure is committed
                    yield leaving
                raise
            for leaving in coalescer.release_all():
                yield leaving

    return operator


def _merged(ranges: list[StreamStatusMessage]) -> Iterator[StreamStatusMessage]:
    """Held ``range_complete`` messages as few as their union needs (the first one's envelope)."""
    if len(ranges) <= 1:
        yield from ranges
        return
    first = ranges[0]
    stream = first.stream_status.stream
    spans = merge_ranges(
        message.stream_status.range_complete
        for message in ranges
        if isinstance(message.stream_status, StreamRangeComplete)
    )
    for span in spans:
        yield first.model_copy(
            update={"stream_status": StreamRangeComplete(stream=stream, range_complete=span)}
        )
