"""The backfill lane: setup when the pipeline is new, then every stream from its checkpoint.

Batches run until the source has nothing left (``has_more`` false), the user pauses or deletes the
pipeline, or the run's batch or time budget is spent; each batch's committed states are saved as
they come. A stream that fails does not stop the others; the lane fails at its end with the worst
kind among them (one that parks wins), and the pipeline becomes ``ready`` only when every one of its
streams is backfilled. A full refresh forgets only the selected streams' checkpoints.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sync_platform.engine import blocking
from sync_platform.engine.resolve import StateHandoff
from sync_platform.pipelines.account_status import account_status
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.lifecycle import resume_target
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.runner.departed_accounts import carry_account_changes
from sync_platform.pipelines.runner.events import (
    BatchCommitted,
    ControlApplied,
    EngineMessage,
    LaneFinished,
    RunEvent,
    SetupRan,
)
from sync_platform.pipelines.runner.judge import batch_failure, errored_streams, streams_failure
from sync_platform.pipelines.states import WORKING_STATUSES, PipelineStatus
from sync_platform.protocol import ControlMessage, LogMessage, SourceConfigControl, SyncMode, SyncState

if TYPE_CHECKING:
    from sync_platform.pipelines.runner.lane_run import LaneRun


def backfill(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
    streams = yield from start_backfill(run, pipeline)
    del pipeline  # each batch reads its own (see ``LaneRun.execute``)
    complete, reason = yield from backfill_batches(run, streams)
    pipeline = run.store.get_without_checkpoints(run.pipeline_id)
    covers_pipeline = set(run.streams(pipeline, None)) <= set(streams)
    if complete and covers_pipeline and pipeline.status is PipelineStatus.BACKFILL:
        yield from run.move(pipeline, PipelineStatus.READY)
    yield LaneFinished(run.lane, complete, reason, run.batches)


def start_backfill(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, list[str]]:
    """Enter the working status, then the streams to backfill (a full refresh forgets theirs
    first). The moved pipeline is not kept: a status change returns it with its checkpoints."""
    pipeline = yield from enter_working_status(run, pipeline)
    streams = run.streams(pipeline, run.options.streams)
    if run.options.reset_state:
        forget_backfill_of(run, pipeline, streams)
    return streams


def backfill_batches(run: LaneRun, streams: list[str]) -> Generator[RunEvent, None, tuple[bool, str]]:
    """Batches from the backfill checkpoint until the source has nothing left, the user stops the
    pipeline or the run's limits are reached: ``(complete, why it stopped)``. A stream that failed
    fails the whole at its end (the other streams went on)."""
    failed: dict[str, Any] = {}
    complete, reason = False, ""
    saved: Saved | None = None
    while True:
        if stop := run.stopped_by_user():
            reason = stop
            break
        has_more, saved = yield from backfill_batch(run, streams, failed, saved)
        if not has_more:
            complete, reason = True, "every stream is backfilled"
            break
        if limit := run.limits_reached():
            reason = f"{limit}; the next run resumes from the last checkpoint"
            break
    if failed:
        raise streams_failure(list(failed.values()))
    return complete, reason


@dataclass(frozen=True)
class Saved:
    """What a batch of this run saved as the backfill checkpoint: its ending state (handed to the
    next batch's engine) and the version the checkpoint is stored at."""

    state: StateHandoff
    version: int


def backfill_batch(
    run: LaneRun, streams: list[str], failed: dict[str, Any], saved: Saved | None
) -> Generator[RunEvent, None, tuple[bool, Saved | None]]:
    """One batch from the backfill checkpoint: whether the source has more (``has_more``), and
    what the batch saved. Streams that failed are added to ``failed``; a failure of the batch
    itself raises.

    The checkpoint is handed to the engine (``StateHandoff``) and the batch's eof lives only here,
    so no frame keeps either once the next batch has planned (at 10,000 accounts a checkpoint is
    ~100 MiB as Python objects).
    """
    pipeline = run.store.get_without_checkpoints(run.pipeline_id)  # the checkpoint is read once, below
    config = run.engine_config(pipeline, SyncMode.FULL_REFRESH, streams)
    stored, state = backfill_checkpoint(run, pipeline, saved)
    del pipeline  # the batch runs on ``config``; this frame lives as long as the batch
    eof = yield from run.batch(config, stored, checkpoint_lane=CheckpointLane.BACKFILL, state=state)
    yield BatchCommitted(run.lane, run.batches, eof)
    if failure := batch_failure(eof, stream_errors=False):
        raise failure
    failed.update({f.stream: f for f in errored_streams(eof.request_progress)})
    if run.saved_version is None:  # pragma: no cover - a backfill batch always saves
        return eof.has_more, None
    return eof.has_more, Saved(StateHandoff(eof.ending_state), run.saved_version)


def backfill_checkpoint(
    run: LaneRun, pipeline: Pipeline, saved: Saved | None
) -> tuple[Checkpoint, StateHandoff]:
    """The backfill checkpoint's version (for the writer) and its state, with the live lane's
    account changes carried in (accounts that left: skipped), as a hand-off.

    After a batch of this run, that is the state it saved, as it is in memory: the run lock keeps
    any other writer off the checkpoint (and the writer's version check would stop this batch's
    first save if one got there), and reading it back gave the next batch a second copy of every
    account's entry, alive next to the first while it planned (the previous eof, which presenters
    keep, holds that one). The first batch, or one with account changes to carry, reads it.
    """
    if saved is not None:
        state: SyncState = saved.state.take()
        view = {"source": {"streams": state.source.streams, "global": state.source.global_}}
        if carry_account_changes(run, pipeline, view) is view:  # nothing to carry
            version_only = Checkpoint(run.pipeline_id, CheckpointLane.BACKFILL, None, saved.version, None)
            return version_only, StateHandoff(state)
    checkpoint = run.store.get_checkpoint(run.pipeline_id, CheckpointLane.BACKFILL)
    handoff = StateHandoff(carry_account_changes(run, pipeline, checkpoint.state))
    return replace(checkpoint, state=None), handoff


def resume_parked_accounts(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
    """A ready pipeline whose source still has accounts parked (an error) or not yet backfilled
    reads what they left from the backfill checkpoint: the source retries exactly those lanes, so a
    transient failure heals by itself (the daily reconcile calls this) and a revoked account costs
    one refused request per lane."""
    status = account_status(run.store.get(run.pipeline_id), run.engine.registry)  # with checkpoints
    if status is None or not (status["counts"].get("error") or status["counts"].get("backfilling")):
        return
    yield from backfill_batches(run, run.streams(pipeline, None))


def enter_working_status(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, Pipeline]:
    """Run setup for a new pipeline; bring a paused or failed one back to the status it left."""
    status = pipeline.status if pipeline.status in WORKING_STATUSES else resume_target(pipeline.lifecycle)
    if status is PipelineStatus.SETUP:
        return (yield from setup(run, pipeline))
    return (yield from run.move(pipeline, status))


def setup(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, Pipeline]:
    """Provision both connectors and persist what they report back, then start the backfill."""
    config = run.store.resolve_secrets(pipeline)
    for message in blocking.iterate(lambda: run.engine.setup(config)):
        if isinstance(message, ControlMessage):
            pipeline = run.store.apply_control(run.pipeline_id, message)
            yield ControlApplied(control_side(message), pipeline)
        elif isinstance(message, LogMessage):
            yield EngineMessage(run.lane, 0, message)
    yield SetupRan(pipeline)
    return (yield from run.move(pipeline, PipelineStatus.BACKFILL))


def forget_backfill_of(run: LaneRun, pipeline: Pipeline, streams: list[str]) -> None:
    """Full refresh: only the selected streams start over (all of them: the whole checkpoint)."""
    if set(run.streams(pipeline, None)) <= set(streams):
        run.store.reset_checkpoints(run.pipeline_id, [CheckpointLane.BACKFILL])
        return

    def forget(tx: Any) -> None:
        checkpoint = tx.get_checkpoint(run.pipeline_id, CheckpointLane.BACKFILL)
        if not checkpoint.state:
            return
        state = dict(checkpoint.state)
        source = dict(state.get("source") or {})
        source["streams"] = {k: v for k, v in (source.get("streams") or {}).items() if k not in streams}
        state["source"] = source
        tx.save_checkpoint(
            run.pipeline_id, state, lane=CheckpointLane.BACKFILL, expected_version=checkpoint.version
        )

    run.store.atomically(forget)


def control_side(message: ControlMessage) -> str:
    return "source" if isinstance(message.control, SourceConfigControl) else "destination"
