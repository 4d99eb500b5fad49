"""Progress of a sync: per-stream counters and the run-level figures derived from them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sync_platform.errors import FailureKind
from sync_platform.protocol.base import WireModel
from sync_platform.protocol.catalog import TimeRange
from sync_platform.protocol.status import ConnectionStatusPayload, RunStatus, StreamRunStatus


class StreamProgress(WireModel):
    status: StreamRunStatus = StreamRunStatus.NOT_STARTED
    state_count: int = 0
    record_count: int = 0
    message: str | None = None
    failure_kind: FailureKind | None = None  # an errored stream's kind of failure
    total_range: TimeRange | None = None
    completed_ranges: tuple[TimeRange, ...] | None = None


class DerivedProgress(WireModel):
    """Figures computed from the stream map on every fold, so readers never recompute them."""

    status: RunStatus = RunStatus.STARTED
    records_per_second: float = 0.0
    states_per_second: float = 0.0
    total_record_count: int = 0
    total_state_count: int = 0


class ProgressPayload(WireModel):
    """A full snapshot of progress (never a diff): the latest one replaces every earlier one."""

    started_at: datetime
    elapsed_ms: int = 0
    global_state_count: int = 0
    connection_status: ConnectionStatusPayload | None = None
    derived: DerivedProgress = DerivedProgress()
    streams: dict[str, StreamProgress] = {}


def merge_ranges(ranges: Iterable[TimeRange]) -> tuple[TimeRange, ...]:
    """Sort by start and merge ranges that overlap or touch; gaps stay. Never mutates its input.

    ``[2024-01, 2024-06) + [2024-06, 2025-01)`` becomes ``[2024-01, 2025-01)``.
    """
    merged: list[TimeRange] = []
    for current in sorted(ranges, key=lambda r: (r.gte, r.lt)):
        if merged and current.gte <= merged[-1].lt:
            last = merged[-1]
            if current.lt > last.lt:
                merged[-1] = TimeRange(gte=last.gte, lt=current.lt)
        else:
            merged.append(current)
    return tuple(merged)
