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
  last state left (a full page of 100 is never held), and the first state of a stream always
  leaves at once;
- otherwise it is held, replacing the one held before; the stream's ``range_complete`` telemetry
  is held with it and leaves right after it, merged;
- held states leave by turns: at most ``SMALL_COMMITS_PER_INTERVAL`` per ``interval`` seconds for
  the whole run, each turn taken by the held stream whose last state left longest ago, once at
  least ``interval`` seconds ago. One stream of small pages commits once per ``interval``, as
  before; ten (a Connect platform's default stream set) each commit every 2.5 intervals instead
  of every one. Each commit costs the same whatever it holds (a PostgreSQL transaction of two
  round trips and the wake-ups around them, the fold, a Connect checkpoint written out naming
  every account), so per stream it was a cost per second of wall that grew with the streams
  read, not with the data: at 100 requests a second over 10 streams, ~11 % of the client's CPU;
  at 53 streams it would have been 53 commits a second. Turns go oldest first, so a stream whose
  pages are rare is not starved by busy ones;
- a held state leaves before its stream's next terminal status (``complete``, ``error``,
  ``skip``), before any ``global`` state (which fences every stream), when the input ends (a
  batch cut by its soft time limit included: that cut runs before this step), when the input
  fails (what was read before the failure is committed as before), and when the batch is cut by
  its state limit, which runs after this step, counts the checkpoints that will be committed,
  and takes every held state at the cut (``release_all``).

Counting committed checkpoints is what the state limit means ("checkpoints per batch"), and it
makes a Connect batch cover the same time as any other: counted before coalescing, 1,000 states
were 1,000 requests of a few objects, and a 10,000-account backfill re-read and re-planned its
whole checkpoint (21 MB) a hundred times.

So a run killed outright repeats, per stream, at most about ``interval`` seconds of small pages or
one turn of every stream reading them (10 streams: 2.5 s), on top of the page per range in flight
it always could.

A state whose data is deferred (``DeferredStateData``: a Connect stream's checkpoint, which names
every account) leaves as it came, a cheap snapshot: the engine writes it out only where it is read
(``protocol.deferred_state``), and a replaced one is dropped unrendered.
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Final

from sync_platform.engine.clock import Clock
from sync_platform.errors import ConfigError
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
INTERVAL_VARIABLE: Final = "SYNC_PLATFORM_CHECKPOINT_INTERVAL"
"""Overrides ``STATE_INTERVAL`` for every engine of the process (0 commits every checkpoint)."""
SMALL_COMMITS_PER_INTERVAL: Final = 4
"""Held states that may leave per ``interval`` in a whole run, across its streams."""
STATE_RECORDS: Final = 100
"""Records of a stream since its last checkpoint that make the next one leave at once (a full
Stripe page)."""


def configured_interval() -> float:
    """``STATE_INTERVAL``, or the seconds ``SYNC_PLATFORM_CHECKPOINT_INTERVAL`` sets."""
    raw = os.environ.get(INTERVAL_VARIABLE, "").strip()
    if not raw:
        return STATE_INTERVAL
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise ConfigError(
            f"{INTERVAL_VARIABLE}={raw!r} is not a number of seconds between 0 and 3600: how long a "
            "stream's small-page checkpoints may be held back (0 commits every checkpoint; unset: "
            f"{STATE_INTERVAL:g})."
        )
    return seconds


class _Held:
    __slots__ = ("ranges", "state")

    def __init__(self, state: SourceStateMessage) -> None:
        self.state = state
        self.ranges: list[StreamStatusMessage] = []


class StateCoalescer:
    """One run's held states: ``operator`` is the stream step, ``release_all`` what a cut takes."""

    def __init__(
        self, clock: Clock, *, interval: float = STATE_INTERVAL, records: int = STATE_RECORDS
    ) -> None:
        """``interval=0`` passes every state at once."""
        self.clock, self.interval, self.records = clock, interval, records
        self.held: dict[str, _Held] = {}
        self.since: dict[str, int] = {}  # records of a stream since its last state left
        self.left_at: dict[str, float] = {}  # when its last state left (clock-monotonic)
        self.turn_gap = interval / SMALL_COMMITS_PER_INTERVAL  # between two held states' turns
        self.turn_at = -math.inf  # when the last held state left by its turn

    async def operator(self, messages: AsyncIterator[Message]) -> AsyncIterator[Message]:
        since = self.since
        async with aclosing(messages):
            try:
                async for message in messages:
                    if isinstance(message, RecordMessage):
                        stream = message.record.stream
                        since[stream] = since.get(stream, 0) + 1
                        yield message
                        continue
                    if isinstance(message, SourceStateMessage):
                        out = self._state(message)
                    elif isinstance(message, StreamStatusMessage):
                        out = self._status(message)
                    else:
                        out = [message]
                    for leaving in out:
                        yield leaving
            except Exception:
                for leaving in self.release_all():  # what was read before the failure is committed
                    yield leaving
                raise
            for leaving in self.release_all():
                yield leaving

    def release_all(self) -> list[Message]:
        """Every held state (with its ranges), now: the input ends, fails, or a batch is cut."""
        return [message for stream in list(self.held) for message in self._release(stream)]

    def _state(self, message: SourceStateMessage) -> list[Message]:
        payload = message.source_state
        if isinstance(payload, GlobalStatePayload):
            return [*self.release_all(), message]
        stream = payload.stream
        now = self.clock.monotonic()
        if stream not in self.left_at or self.since.get(stream, 0) >= self.records or self.interval <= 0:
            entry = self.held.pop(stream, None)
            self.since[stream], self.left_at[stream] = 0, now
            return [message, *_merged(entry.ranges if entry is not None else [])]
        entry = self.held.get(stream)
        if entry is None:
            self.held[stream] = _Held(message)
        else:
            entry.state = message
        if now - self.turn_at < self.turn_gap:
            return []
        due = now - self.interval
        waited = [(left, name) for name in self.held if (left := self.left_at[name]) <= due]
        if not waited:
            return []
        self.turn_at = now
        return self._release(min(waited)[1])

    def _status(self, message: StreamStatusMessage) -> list[Message]:
        status = message.stream_status
        entry = self.held.get(status.stream)
        if entry is None:
            return [message]
        if isinstance(status, StreamRangeComplete):
            entry.ranges.append(message)
            return []
        return [*self._release(status.stream), message]

    def _release(self, stream: str) -> list[Message]:
        entry = self.held.pop(stream, None)
        if entry is None:
            return []
        self.since[stream], self.left_at[stream] = 0, self.clock.monotonic()
        return [entry.state, *_merged(entry.ranges)]


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
