"""The NDJSON a streamed run is sent as (``POST /pipelines/{id}/sync``), and how a client reads it.

Every line is one JSON object with a ``type``:

- the engine's own protocol messages, unchanged (``progress``, ``stream_status``, ``source_state``,
  ``log``, ``control``…), plus a ``run`` key saying which lane and batch they belong to;
- ``eof`` once per committed batch (the batch's ``EofPayload``, its checkpoint already saved),
  with ``run: {"event": "batch_committed", "lane", "batch", "events_applied"}``;
- ``run`` lines for what the runner decided: ``lane_started``, ``status_changed``, ``setup_ran``,
  ``control_applied``, ``batch_started``, ``checkpoint_saved``, ``lane_finished``, ``housekept``,
  ``accounts_purged``, ``run_failed``; and a last ``run_ended`` line (``status``: ``succeeded``, ``failed``,
  ``crashed`` with an ``error``). A stream without ``run_ended`` was cut short.

Protocol readers parse the non-``run`` lines as they are (extra keys are ignored by the wire
models); ``decode`` turns a line back into the runner's event, so the remote CLI shows a run
exactly as a local one. Pipelines travel masked, as everywhere else.
"""

from __future__ import annotations

import json
from typing import Any

from sync_platform.pipelines import Pipeline, PipelineError
from sync_platform.pipelines.runner import (
    AccountsPurged,
    BatchCommitted,
    BatchStarted,
    CheckpointSaved,
    ControlApplied,
    EngineMessage,
    Housekept,
    Lane,
    LaneFinished,
    LaneStarted,
    RunEvent,
    RunFailed,
    SetupRan,
    StatusChanged,
)
from sync_platform.pipelines.states import DisplayStatus
from sync_platform.protocol import EofPayload, SyncState, parse_message


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), default=str, ensure_ascii=False) + "\n"


def _message(message: Any) -> dict[str, Any]:
    data: dict[str, Any] = message.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


def _run(event: str, **fields: Any) -> str:
    return _dump({"type": "run", "run": {"event": event, **fields}})


def encode(event: RunEvent) -> str:
    """One runner event as one NDJSON line (newline included)."""
    match event:
        case EngineMessage(lane=lane, batch=batch, message=message):
            return _dump({**_message(message), "run": {"lane": lane.value, "batch": batch}})
        case BatchCommitted(lane=lane, number=number, eof=eof, events_applied=applied):
            meta = {
                "event": "batch_committed",
                "lane": lane.value,
                "batch": number,
                "events_applied": applied,
            }
            return _dump({"type": "eof", "eof": eof.to_wire(), "run": meta})
        case LaneStarted(lane=lane, pipeline=pipeline):
            return _run("lane_started", lane=lane.value, pipeline=pipeline.masked())
        case StatusChanged(before=before, after=after, pipeline=pipeline):
            return _run("status_changed", before=before.value, after=after.value, pipeline=pipeline.masked())
        case SetupRan(pipeline=pipeline):
            return _run("setup_ran", pipeline=pipeline.masked())
        case ControlApplied(side=side, pipeline=pipeline):
            return _run("control_applied", side=side, pipeline=pipeline.masked())
        case BatchStarted(lane=lane, number=number):
            return _run("batch_started", lane=lane.value, batch=number)
        case CheckpointSaved(lane=lane, batch=batch, state=state):
            return _run("checkpoint_saved", lane=lane.value, batch=batch, state=state.to_wire())
        case LaneFinished(lane=lane, complete=complete, reason=reason, batches=batches):
            return _run("lane_finished", lane=lane.value, complete=complete, reason=reason, batches=batches)
        case Housekept(lane=lane, inbox_rows=rows, tombstones=tombstones):
            return _run("housekept", lane=lane.value, inbox_rows=rows, tombstones=tombstones)
        case AccountsPurged(lane=lane, rows=rows):
            return _run("accounts_purged", lane=lane.value, rows=rows)
        case RunFailed(lane=lane, error=error, pipeline=pipeline):
            return _run(
                "run_failed", lane=lane.value, error=error.model_dump(mode="json"), pipeline=pipeline.masked()
            )
    raise TypeError(f"not a runner event: {type(event).__name__}")  # pragma: no cover


def ended(status: str, error: dict[str, Any] | None = None) -> str:
    """The last line of a streamed run: how it ended (``error`` as the API's error body)."""
    fields: dict[str, Any] = {"status": status}
    if error is not None:
        fields["error"] = error
    return _run("run_ended", **fields)


def pipeline_from_masked(data: dict[str, Any]) -> Pipeline:
    """A ``Pipeline`` from its masked JSON (as the API returns it), for code that presents one.

    Masked secrets stay masked (``***``); such a pipeline is for showing, never for running.
    """
    fields = {key: value for key, value in data.items() if key in Pipeline.model_fields}
    return Pipeline.model_validate(fields)


def decode(line: str | bytes) -> RunEvent | dict[str, Any] | None:
    """A line of a streamed run as the runner event it encodes; the ``run_ended`` line as its
    fields (a dict); None for a blank line."""
    if not line.strip():
        return None
    data = json.loads(line)
    run = data.get("run") or {}
    if data.get("type") != "run":
        if data.get("type") == "eof":
            return BatchCommitted(
                Lane(run["lane"]), int(run["batch"]), EofPayload.model_validate(data["eof"]),
                int(run.get("events_applied") or 0),
            )  # fmt: skip
        return EngineMessage(
            Lane(run.get("lane", Lane.BACKFILL)), int(run.get("batch", 0)), parse_message(data)
        )
    event = run.get("event")
    lane = Lane(run["lane"]) if "lane" in run else Lane.BACKFILL
    pipeline = pipeline_from_masked(run["pipeline"]) if "pipeline" in run else None
    match event:
        case "lane_started" if pipeline is not None:
            return LaneStarted(lane, pipeline)
        case "status_changed" if pipeline is not None:
            return StatusChanged(DisplayStatus(run["before"]), DisplayStatus(run["after"]), pipeline)
        case "setup_ran" if pipeline is not None:
            return SetupRan(pipeline)
        case "control_applied" if pipeline is not None:
            return ControlApplied(run["side"], pipeline)
        case "batch_started":
            return BatchStarted(lane, int(run["batch"]))
        case "checkpoint_saved":
            return CheckpointSaved(lane, int(run["batch"]), SyncState.model_validate(run["state"]))
        case "lane_finished":
            return LaneFinished(lane, bool(run["complete"]), str(run["reason"]), int(run.get("batches", 0)))
        case "housekept":
            return Housekept(lane, int(run["inbox_rows"]), run.get("tombstones"))
        case "accounts_purged":
            return AccountsPurged(lane, dict(run["rows"]))
        case "run_failed" if pipeline is not None:
            return RunFailed(lane, PipelineError.model_validate(run["error"]), pipeline)
        case "run_ended":
            return dict(run)
    raise ValueError(f"unknown run event {event!r} in the stream")
