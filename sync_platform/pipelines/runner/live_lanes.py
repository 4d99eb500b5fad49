"""The lanes that keep a backfilled pipeline current: live (the webhook inbox), poll, reconcile.

- ``live`` claims pending inbox events, applies them as the source's pushed input, then saves the
  live checkpoint and marks the events applied in one transaction (a crash in between re-applies
  them, which newer-wins makes harmless); it goes on with what arrives while it runs, within a
  time budget.
- ``poll`` reads the source's changes since the live checkpoint, saving it as pages commit.
- ``reconcile`` replays recent changes from a throwaway state (the source decides how far back),
  moving no cursor, hands the source what the replay found so it can tell the live lanes (Stripe:
  which Connect accounts webhooks missed, for the poll to ask), then prunes what retention says
  is no longer needed.

Where a live read starts after the backfill is the source's to say (``engine.source_lanes``).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from sync_platform.engine import source_lanes
from sync_platform.engine.destination_kit import prune_tombstones
from sync_platform.engine.resolve import bind_destination, bind_source
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.errors import ConcurrentUpdateError
from sync_platform.pipelines.inbox import InboxEvent
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.runner.backfill_lane import resume_parked_accounts
from sync_platform.pipelines.runner.departed_accounts import carry_account_changes, purge_departed_accounts
from sync_platform.pipelines.runner.events import (
    BatchCommitted,
    CheckpointSaved,
    Housekept,
    LaneFinished,
    RunEvent,
)
from sync_platform.pipelines.runner.judge import batch_failure
from sync_platform.protocol import EofPayload, SyncMode, SyncState, parse_sync_state

if TYPE_CHECKING:
    from sync_platform.pipelines.runner.lane_run import LaneRun

LIVE_CLAIM_LIMIT = 500
LIVE_TIME_BUDGET_SECONDS = 120.0
"""A live run applies what arrives while it runs, for up to this long (then the next run goes on)."""


def live(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
    """Apply the webhook inbox: claim, apply, then save the cursor and mark the events applied
    together (a crash in between re-applies them, which newer-wins makes harmless)."""
    config = run.engine_config(pipeline, SyncMode.INCREMENTAL, run.streams(pipeline, None))
    budget = run.deadline or run.runner.monotonic() + LIVE_TIME_BUDGET_SECONDS
    applied, reason = 0, "every pending event is applied"
    before = run.store.get_checkpoint(run.pipeline_id, CheckpointLane.LIVE).state  # who left since
    while True:
        if stop := run.stopped_by_user():
            reason = stop
            break
        events = run.store.claim_inbox_events(run.pipeline_id, limit=LIVE_CLAIM_LIMIT)
        if not events:
            break
        checkpoint = run.store.get_checkpoint(run.pipeline_id, CheckpointLane.LIVE)
        start = checkpoint if checkpoint.state else live_start(run, pipeline, checkpoint)
        eof = yield from run.batch(config, start, checkpoint_lane=None, pushed=events)
        if failure := batch_failure(eof, stream_errors=True):
            raise failure  # nothing marked applied: the events stay pending for the retry

        def commit(
            tx: Any,
            eof: EofPayload = eof,
            events: list[InboxEvent] = events,
            version: int = checkpoint.version,
        ) -> None:
            tx.save_checkpoint(
                run.pipeline_id, eof.ending_state, lane=CheckpointLane.LIVE, expected_version=version
            )
            tx.mark_inbox_processed([event.id for event in events])

        run.store.atomically(commit)
        applied += len(events)
        yield BatchCommitted(run.lane, run.batches, eof, events_applied=len(events))
        if run.runner.monotonic() >= budget or run.limits_reached():
            reason = f"applied {applied} event(s); the rest waits for the next run"
            break
    if applied:  # a deauthorization arrives as an event
        yield from purge_departed_accounts(run, pipeline, live_before=before, every=False)
    yield LaneFinished(run.lane, reason.startswith("every"), reason, run.batches)


def poll(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
    """Read the source's changes since the live checkpoint, saving it as pages commit."""
    config = run.engine_config(pipeline, SyncMode.INCREMENTAL, run.streams(pipeline, None))
    complete, reason = False, ""
    while True:
        if stop := run.stopped_by_user():
            reason = stop
            break
        checkpoint = run.store.get_checkpoint(run.pipeline_id, CheckpointLane.LIVE)
        start = checkpoint if checkpoint.state else live_start(run, pipeline, checkpoint)
        eof = yield from run.batch(config, start, checkpoint_lane=CheckpointLane.LIVE)
        yield BatchCommitted(run.lane, run.batches, eof)
        if failure := batch_failure(eof, stream_errors=True):
            raise failure
        if not eof.has_more:
            complete, reason = True, "caught up with the source's changes"
            break
        if limit := run.limits_reached():
            reason = limit
            break
    yield LaneFinished(run.lane, complete, reason, run.batches)


def reconcile(run: LaneRun, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
    """Retry the accounts the backfill parked, then replay the source's recent changes from a
    throwaway state: heals what a webhook missed and moves no live cursor (``after_replay``)."""
    yield from resume_parked_accounts(run, pipeline)
    yield from purge_departed_accounts(run, pipeline)
    source = bind_source(run.engine.registry, run.store.resolve_secrets(pipeline).source).connector
    replay = source_lanes.replay_state(source, run.runner.now())
    if replay is None:
        yield LaneFinished(run.lane, True, f"the {pipeline.source.type} source cannot replay changes")
        return
    config = run.engine_config(pipeline, SyncMode.INCREMENTAL, run.streams(pipeline, run.options.streams))
    throwaway = SyncState(source=replay).model_dump(mode="json", by_alias=True)
    state: Any = carry_account_changes(run, pipeline, throwaway)  # accounts that left: not asked
    while True:
        nowhere = Checkpoint(run.pipeline_id, CheckpointLane.LIVE, None, 0, None)
        eof = yield from run.batch(config, nowhere, checkpoint_lane=None, state=state)
        yield BatchCommitted(run.lane, run.batches, eof)
        if failure := batch_failure(eof, stream_errors=True):
            raise failure
        state = eof.ending_state  # in memory only
        if not eof.has_more:
            break
    yield from after_replay(run, pipeline, source, state)
    yield housekeeping(run, pipeline)
    yield LaneFinished(run.lane, True, "replayed the recent changes", run.batches)


def after_replay(
    run: LaneRun, pipeline: Pipeline, source: object, replayed: SyncState
) -> Generator[RunEvent, None, None]:
    """Save into the live checkpoint what the source learned from the replay (Stripe: Connect
    accounts whose changes no webhook brought, which the events poll then asks too).

    What changes is the source's to say (``source_lanes.after_replay``), and it never moves where
    the live read resumes. Nothing is saved before the live lanes have a start (no backfill
    cursor yet), and a live run that saved meanwhile wins: the next reconcile learns it again.
    """
    checkpoint = run.store.get_checkpoint(run.pipeline_id, CheckpointLane.LIVE)
    start = checkpoint if checkpoint.state else live_start(run, pipeline, checkpoint)
    live_state = parse_sync_state(start.state)
    if live_state is None:
        return
    learned = source_lanes.after_replay(source, live_state.source, replayed.source, run.runner.now())
    if learned is None:
        return
    saved = live_state.model_copy(update={"source": learned})
    try:
        run.store.save_checkpoint(
            run.pipeline_id, saved, lane=CheckpointLane.LIVE, expected_version=checkpoint.version
        )
    except ConcurrentUpdateError:
        return
    yield CheckpointSaved(run.lane, run.batches, saved)


def housekeeping(run: LaneRun, pipeline: Pipeline) -> Housekept:
    """Retention (see ``retention``): applied inbox rows, then the destination's tombstones."""
    now = run.runner.now()
    retention = run.options.retention
    inbox_rows = run.store.prune_processed_inbox(now - retention.inbox, run.pipeline_id)
    destination = run.store.resolve_secrets(pipeline).destination
    bound = bind_destination(run.engine.registry, destination)
    tombstones = prune_tombstones(bound.connector, bound.config, now - retention.tombstones)
    return Housekept(run.lane, inbox_rows, tombstones)


def live_start(run: LaneRun, pipeline: Pipeline, checkpoint: Checkpoint) -> Checkpoint:
    """The first live read starts where the source says, from the backfill's checkpoint."""
    backfill = run.store.get_checkpoint(run.pipeline_id, CheckpointLane.BACKFILL).state
    source = bind_source(run.engine.registry, run.store.resolve_secrets(pipeline).source).connector
    parsed = SyncState.model_validate(backfill).source if backfill else None
    start = source_lanes.live_state(source, parsed)
    state = None if start is None else SyncState(source=start).model_dump(mode="json", by_alias=True)
    return Checkpoint(
        checkpoint.pipeline_id, checkpoint.lane, state, checkpoint.version, checkpoint.updated_at
    )
