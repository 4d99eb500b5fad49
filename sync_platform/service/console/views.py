"""What the console's pages show, computed from a pipeline and its runs (no HTML here).

Per-stream progress comes from the pipeline's backfill checkpoint: the run progress the engine
folded (status, records, checkpoints per stream) and the source's position per stream (for Stripe,
the objects listed and the time ranges still to read). The live checkpoint is the events cursor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync_platform.backfill_progress import backfill_progress
from sync_platform.pipelines import Pipeline
from sync_platform.pipelines.run_log import RunRecord
from sync_platform.redaction import redact_value

STATUS_TONE = {
    "ready": "good",
    "backfilling": "busy",
    "setting_up": "busy",
    "resuming": "busy",
    "pausing": "warn",
    "paused": "warn",
    "tearing_down": "muted",
    "teardown_failed": "bad",
    "deleted": "muted",
    "error": "bad",
    "succeeded": "good",
    "running": "busy",
    "queued": "busy",
    "failed": "bad",
    "cancelled": "warn",
    "interrupted": "warn",
}


@dataclass(frozen=True)
class StreamRow:
    name: str
    status: str
    records: int | None
    checkpoints: int | None
    position: str


def ago(moment: datetime | str | None, now: datetime | None = None) -> str:
    """``"12 s ago"``, ``"3 min ago"``, ``"2 h ago"``, or the date; ``"never"`` for None."""
    if moment is None:
        return "never"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return f"{max(0, int(seconds))} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{moment:%Y-%m-%d %H:%M}"


def position_in_words(state: Any) -> str:
    """A stream's checkpoint in words (Stripe: objects listed, ranges and accounts left; else its
    JSON, short)."""
    progress = backfill_progress(state)
    if progress is not None:
        left, unread = progress.ranges_left, progress.accounts_not_started
        to_read = [f"{left} range(s) to read"] * bool(left) + [f"{unread} account(s) not started"] * bool(
            unread
        )
        done = ", ".join(to_read) or "complete"
        return f"{progress.listed:,} listed, {done}" if progress.listed is not None else done
    if state is None:
        return "not started"
    text = json.dumps(redact_value(state), default=str)
    return text if len(text) <= 80 else text[:79] + "…"


def stream_rows(pipeline: Pipeline) -> list[StreamRow]:
    """One row per stream the pipeline syncs (or has a checkpoint for), in a stable order."""
    state = pipeline.sync_state or {}
    progress = ((state.get("sync_run") or {}).get("progress") or {}).get("streams") or {}
    positions = (state.get("source") or {}).get("streams") or {}
    names = [s.name for s in pipeline.streams] if pipeline.streams is not None else []
    names += sorted((set(positions) | set(progress)) - set(names))
    rows = []
    for name in dict.fromkeys(names):
        run = progress.get(name) or {}
        position = positions.get(name)
        status = run.get("status") or (
            "completed" if position_in_words(position).endswith("complete") else "pending"
        )
        rows.append(
            StreamRow(
                name=name,
                status=str(status),
                records=run.get("record_count"),
                checkpoints=run.get("state_count"),
                position=position_in_words(position),
            )
        )
    return rows


def live_position(pipeline: Pipeline) -> str:
    cursor = ((pipeline.live_state or {}).get("source") or {}).get("global")
    if not cursor:
        return "not started (starts from the backfill's events cursor)"
    return position_in_words(cursor)


def config_json(masked: dict[str, Any]) -> str:
    """A masked connector config, pretty-printed (it is masked already; redaction is a second net)."""
    return json.dumps(redact_value(masked), indent=2, sort_keys=True, default=str)


def run_rows(runs: list[RunRecord]) -> list[dict[str, Any]]:
    rows = []
    for run in runs:
        seconds = run.duration_seconds
        rows.append(
            {
                "run": run,
                "lanes": ", ".join(run.lanes) or "—",
                "started": ago(run.started_at) if run.started_at else "not started",
                "duration": f"{seconds:.1f} s" if seconds is not None else "—",
                "tone": STATUS_TONE.get(run.status.value, "muted"),
            }
        )
    return rows
