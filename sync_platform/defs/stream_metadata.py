"""Per-stream figures of a run, and how they become Dagster metadata.

A ``StreamTally`` accumulates what one stream did during a run, from the engine's messages: records
read (from progress), rows inserted / updated / skipped as stale / deleted (from the destination's
per-flush ``log`` messages), its latest committed checkpoint (the ``source_state`` messages the
destination re-emitted) and when it started and finished.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import dagster as dg

from sync_platform.backfill_progress import backfill_progress
from sync_platform.engine.destination_kit import COUNTS, FlushReport
from sync_platform.protocol import rendered_data

FLUSH_STAT_KEYS = COUNTS
CONSOLE_URL_ENV = "SYNC_PLATFORM_CONSOLE_URL"
DEFAULT_CONSOLE_URL = "http://127.0.0.1:8080"  # where `sync-platform serve` (and `make dev`) listens
MAX_CURSOR_CHARS = 2000


@dataclass
class StreamTally:
    """What one stream did in this run."""

    name: str
    records_read: int = 0
    checkpoints: int = 0
    flush: dict[str, int] = field(default_factory=lambda: dict.fromkeys(FLUSH_STAT_KEYS, 0))
    started_at: float | None = None
    finished_at: float | None = None
    status: str = "not_started"
    message: str | None = None
    cursor: Any = None  # the latest checkpoint; a source's snapshot until read (``checkpoint``)
    reported: bool = False

    def add_flush(self, report: FlushReport) -> None:
        for key, value in report.counts().items():
            self.flush[key] += value

    @property
    def checkpoint(self) -> Any:
        """The latest checkpoint as data: a Connect stream's snapshot is written out only here, when
        a materialization or observation shows it, not for each of the states a run commits."""
        return rendered_data(self.cursor)

    @property
    def duration_seconds(self) -> float:
        if self.started_at is None:
            return 0.0
        return max(0.0, (self.finished_at or self.started_at) - self.started_at)

    @property
    def objects_per_second(self) -> float:
        seconds = self.duration_seconds
        return self.records_read / seconds if seconds > 0 else 0.0


def summarize_cursor(state: Any) -> Any:
    """A compact, readable form of a stream checkpoint for the UI.

    A Stripe backfill state ``{accounted_range, remaining: [...]}`` becomes the covered range, the
    number of ranges still to read (and of Connect accounts not read yet, ``unread``) and whether
    the stream is complete; other states are shown as they are, cut to a readable size.
    """
    progress = backfill_progress(state)
    if progress is not None:
        summary: dict[str, Any] = {
            "accounted_range": state.get("accounted_range"),
            "remaining_ranges": progress.ranges_left,
            "complete": progress.complete,
        }
        if progress.accounts_not_started:
            summary["unread_accounts"] = progress.accounts_not_started
        if "listed" in state:
            summary["listed"] = state["listed"]
        return summary
    text = json.dumps(state, default=str)
    return state if len(text) <= MAX_CURSOR_CHARS else {"truncated": text[:MAX_CURSOR_CHARS]}


def pipeline_page_url(pipeline_id: str) -> str:
    """The pipeline's page in the console (``SYNC_PLATFORM_CONSOLE_URL``, read when a run reports)."""
    base = (os.environ.get(CONSOLE_URL_ENV) or DEFAULT_CONSOLE_URL).rstrip("/")
    return f"{base}/console/pipelines/{quote(pipeline_id)}"


def materialization_metadata(
    tally: StreamTally, *, pipeline_id: str, lane: str, row_count: int | None
) -> dict[str, Any]:
    """Metadata of a stream's ``MaterializeResult``: destination rows, this run's work, its cursor."""
    metadata: dict[str, Any] = {
        "sync/pipeline_id": pipeline_id,
        "sync/pipeline": dg.MetadataValue.url(pipeline_page_url(pipeline_id)),
        "sync/lane": lane,
        "sync/status": tally.status,
        "sync/records_read": dg.MetadataValue.int(tally.records_read),
        "sync/inserted": dg.MetadataValue.int(tally.flush["inserted"]),
        "sync/updated": dg.MetadataValue.int(tally.flush["updated"]),
        "sync/skipped_stale": dg.MetadataValue.int(tally.flush["skipped_stale"]),
        "sync/deleted": dg.MetadataValue.int(tally.flush["deleted"]),
        "sync/checkpoints": dg.MetadataValue.int(tally.checkpoints),
        "sync/duration_seconds": dg.MetadataValue.float(round(tally.duration_seconds, 3)),
        "sync/objects_per_second": dg.MetadataValue.float(round(tally.objects_per_second, 1)),
        "sync/cursor": dg.MetadataValue.json(summarize_cursor(tally.checkpoint)),
    }
    if row_count is not None:
        metadata["dagster/row_count"] = dg.MetadataValue.int(row_count)
    if tally.message:
        metadata["sync/message"] = tally.message
    return metadata


def observation_metadata(
    batch: int, records: int, checkpoints: int, cursor: Any, *, status: str, has_more: bool
) -> dict[str, Any]:
    """Metadata of the per-batch ``AssetObservation``: the batch's work and the committed checkpoint."""
    return {
        "sync/batch": dg.MetadataValue.int(batch),
        "sync/records": dg.MetadataValue.int(records),
        "sync/checkpoints": dg.MetadataValue.int(checkpoints),
        "sync/checkpoint": dg.MetadataValue.json(summarize_cursor(cursor)),
        "sync/stream_status": status,
        "sync/has_more": has_more,
    }
