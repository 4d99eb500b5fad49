"""Pure folds of sync events into progress and into SyncState: ``(state, event, at) -> new state``.

Nothing here reads a clock or does I/O; the time of each event is passed in as ``at``. Inputs are
never mutated, so a caller can keep the previous value (a checkpoint) while folding the next event.

Records are folded in counts (``RecordsSeen``) rather than one by one: a backfill moves thousands of
records a second and copying the progress model per record would dominate the engine's cost.
Folding ``RecordsSeen(n)`` is the same as folding ``n`` record messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from sync_platform.engine.errors import EngineError
from sync_platform.protocol import (
    ConnectionStatus,
    ConnectionStatusMessage,
    DerivedProgress,
    GlobalStatePayload,
    ProgressPayload,
    RecordMessage,
    RunStatus,
    SourceStateMessage,
    StreamComplete,
    StreamError,
    StreamProgress,
    StreamRangeComplete,
    StreamRunStatus,
    StreamSkip,
    StreamStart,
    StreamStatusMessage,
    SyncRunState,
    SyncState,
    TimeRange,
    merge_ranges,
)


@dataclass(frozen=True)
class RecordsSeen:
    """``counts[stream]`` records of each stream passed the commit fence since the last fold."""

    counts: Mapping[str, int]
    first_seen_at: datetime | None = None


@dataclass(frozen=True)
class Initialize:
    """Start (or continue) a run over ``stream_names``; same ``run_id`` as the state = continuation."""

    stream_names: list[str] = field(default_factory=list)
    run_id: str | None = None


ProgressEvent = (
    RecordMessage | SourceStateMessage | StreamStatusMessage | ConnectionStatusMessage | RecordsSeen
)
_DATA_EVENTS = (RecordMessage, SourceStateMessage, StreamStatusMessage, ConnectionStatusMessage, RecordsSeen)


def initial_progress(stream_names: Iterable[str], at: datetime) -> ProgressPayload:
    return ProgressPayload(started_at=at, streams={name: StreamProgress() for name in stream_names})


def _is_untouched(progress: ProgressPayload) -> bool:
    return (
        progress.elapsed_ms == 0
        and progress.global_state_count == 0
        and all(s.record_count == 0 for s in progress.streams.values())
    )


_RECORD_COUNT = attrgetter("record_count")
_STATE_COUNT = attrgetter("state_count")
_STATUS = attrgetter("status")


def derive(progress: ProgressPayload) -> DerivedProgress:
    """Totals, rates and the run status; an empty stream map never counts as succeeded."""
    streams = progress.streams.values()  # read three times per fold: attrgetter keeps it in C
    total_records = sum(map(_RECORD_COUNT, streams))
    total_states = sum(map(_STATE_COUNT, streams))
    seconds = progress.elapsed_ms / 1000
    statuses = set(map(_STATUS, streams))
    if progress.connection_status and progress.connection_status.status == ConnectionStatus.FAILED:
        status = RunStatus.FAILED
    elif any(s in (StreamRunStatus.STARTED, StreamRunStatus.NOT_STARTED) for s in statuses):
        status = RunStatus.STARTED
    elif StreamRunStatus.ERRORED in statuses:
        status = RunStatus.FAILED
    elif statuses:
        status = RunStatus.SUCCEEDED
    else:
        status = RunStatus.STARTED
    return DerivedProgress(
        status=status,
        records_per_second=total_records / seconds if seconds > 0 else 0.0,
        states_per_second=(progress.global_state_count + total_states) / seconds if seconds > 0 else 0.0,
        total_record_count=total_records,
        total_state_count=total_states,
    )


def _stream_update(current: StreamProgress, payload: Any) -> StreamProgress:
    match payload:
        case StreamStart(time_range=time_range):
            total = (
                TimeRange(gte=time_range.gte, lt=time_range.lt)
                if time_range is not None and time_range.gte is not None and time_range.lt is not None
                else current.total_range
            )
            return current.model_copy(update={"status": StreamRunStatus.STARTED, "total_range": total})
        case StreamRangeComplete(range_complete=completed):
            ranges = merge_ranges([*(current.completed_ranges or ()), completed])
            return current.model_copy(update={"completed_ranges": ranges})
        case StreamComplete():
            return current.model_copy(update={"status": StreamRunStatus.COMPLETED})
        case StreamError(error=error, failure_kind=kind):
            return current.model_copy(
                update={"status": StreamRunStatus.ERRORED, "message": error, "failure_kind": kind}
            )
        case StreamSkip(reason=reason):
            return current.model_copy(update={"status": StreamRunStatus.SKIPPED, "message": reason})
    return current


def reduce_progress(progress: ProgressPayload, event: Any, at: datetime) -> ProgressPayload:
    """Fold one event into progress. Events that carry no progress return the same object."""
    if not isinstance(event, _DATA_EVENTS):
        return progress
    anchor = event.first_seen_at if isinstance(event, RecordsSeen) and event.first_seen_at else at
    started_at = anchor if _is_untouched(progress) else progress.started_at
    streams = progress.streams
    update: dict[str, Any] = {}
    match event:
        case RecordsSeen(counts=counts):
            streams = dict(streams)
            for name, count in counts.items():
                current = streams.get(name) or StreamProgress()
                streams[name] = current.model_copy(update={"record_count": current.record_count + count})
        case RecordMessage(record=payload):
            streams = dict(streams)
            current = streams.get(payload.stream) or StreamProgress()
            streams[payload.stream] = current.model_copy(update={"record_count": current.record_count + 1})
        case SourceStateMessage(source_state=GlobalStatePayload()):
            update["global_state_count"] = progress.global_state_count + 1
        case SourceStateMessage(source_state=state):
            streams = dict(streams)
            current = streams.get(state.stream) or StreamProgress()
            streams[state.stream] = current.model_copy(update={"state_count": current.state_count + 1})
        case StreamStatusMessage(stream_status=payload):
            streams = dict(streams)
            streams[payload.stream] = _stream_update(streams.get(payload.stream) or StreamProgress(), payload)
        case ConnectionStatusMessage(connection_status=payload):
            update["connection_status"] = payload
    elapsed_ms = max(0, int((at - started_at).total_seconds() * 1000))
    folded = progress.model_copy(
        update={**update, "started_at": started_at, "elapsed_ms": elapsed_ms, "streams": streams}
    )
    return folded.model_copy(update={"derived": derive(folded)})


def reduce_state(state: SyncState | None, event: Any, at: datetime) -> SyncState:
    """Fold an ``Initialize`` or a message the destination re-emitted into the SyncState.

    Continuation (same run id) keeps progress and the frozen ``time_ceiling``. A new run keeps the
    source and destination checkpoints but resets progress; it freezes a new ``time_ceiling`` only
    when it has a run id. Without one the ceiling is cleared, never inherited: a stale ceiling
    would freeze every later sync's upper bound in the past (reference bug #6).
    """
    if isinstance(event, Initialize):
        if state is not None and event.run_id is not None and state.sync_run.run_id == event.run_id:
            return state
        run = SyncRunState(
            run_id=event.run_id,
            time_ceiling=at if event.run_id is not None else None,
            progress=initial_progress(event.stream_names, at),
        )
        if state is None:
            return SyncState(sync_run=run)
        return state.model_copy(update={"sync_run": run})
    if state is None:
        raise EngineError("reduce_state received an event before Initialize; initialize the run first.")
    progress = reduce_progress(state.sync_run.progress, event, at)
    update: dict[str, Any] = {}
    if progress is not state.sync_run.progress:
        update["sync_run"] = state.sync_run.model_copy(update={"progress": progress})
    if isinstance(event, SourceStateMessage):
        payload = event.source_state
        if isinstance(payload, GlobalStatePayload):
            source = state.source.model_copy(update={"global_": payload.data or {}})
        else:
            source = state.source.model_copy(
                update={"streams": {**state.source.streams, payload.stream: payload.data}}
            )
        update["source"] = source
    return state.model_copy(update=update) if update else state


def is_progress_trigger(message: Any) -> bool:
    """Messages after which ``sync`` emits a progress snapshot."""
    return isinstance(message, SourceStateMessage | StreamStatusMessage | ConnectionStatusMessage)


__all__ = [
    "Initialize",
    "RecordsSeen",
    "derive",
    "initial_progress",
    "is_progress_trigger",
    "reduce_progress",
    "reduce_state",
]
