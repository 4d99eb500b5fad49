"""The body of a stream family's sync run: what each lane does, batch after batch.

One run serves one pipeline (the partition) and one lane (the ``sync/lane`` run tag):

- ``backfill`` (the default, and what a materialization from the UI does): setup if the pipeline is
  new, then batches from the backfill checkpoint, saving it after every batch; the pipeline becomes
  ``ready`` once every one of its streams is done.
- ``live``: claims the pipeline's pending inbox events and applies them; the live checkpoint is
  saved and the events are marked processed in one transaction, so a crash re-applies them
  (harmlessly: newer-wins) instead of losing them.
- ``poll``: reads changes from the events API since the live checkpoint.
- ``reconcile``: replays a recent window of events from a throwaway state, healing anything a
  webhook missed, without moving the live cursor.

Between batches the run re-reads the pipeline and stops when the user paused or deleted it
(cooperative pause: a batch in flight finishes and commits; nothing is cut mid-write).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from sync_platform.defs.batch import BatchRunner
from sync_platform.defs.config import SyncConfig
from sync_platform.defs.families import DestinationFamily
from sync_platform.defs.reporting import RunReporter
from sync_platform.defs.resources import PipelineResource, SyncEngineResource
from sync_platform.defs.stream_metadata import StreamTally
from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG, Lane
from sync_platform.engine import blocking
from sync_platform.pipelines import (
    CheckpointLane,
    DesiredStatus,
    Pipeline,
    PipelineStatus,
    PipelineStore,
    lanes,
)
from sync_platform.protocol import ControlMessage, LogMessage, PipelineConfig, StreamConfig, SyncMode

CLAIM_LIMIT = 500
LIVE_TIME_BUDGET_SECONDS = 120.0
RECONCILE_WINDOW = timedelta(days=3)
WORKING = (PipelineStatus.SETUP, PipelineStatus.BACKFILL, PipelineStatus.READY)


class SyncRun:
    """One run of one family's sync for one pipeline; ``execute`` yields its materializations."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        config: SyncConfig,
        pipelines: PipelineResource,
        engine: SyncEngineResource,
        family: DestinationFamily,
        streams_by_key: Mapping[dg.AssetKey, str],
    ) -> None:
        self.context = context
        self.config = config
        self.store: PipelineStore = pipelines.store()
        self.family = family
        self.known_streams = sorted(streams_by_key.values())
        self.selected = sorted(streams_by_key[key] for key in context.selected_asset_keys)
        self.pipeline_id = context.partition_key
        self.lane = Lane(context.run.tags.get(LANE_TAG, Lane.BACKFILL))
        self.started = time.monotonic()
        self.reporter = RunReporter(
            context,
            self.store,
            pipeline_id=self.pipeline_id,
            lane=self.lane,
            keys_by_stream={stream: key for key, stream in streams_by_key.items()},
            selected=self.selected,
        )
        self.batches = BatchRunner(
            context, engine.engine(), self.store, self.reporter, state_limit=config.state_limit
        )

    def execute(self) -> Iterator[dg.MaterializeResult]:
        pipeline = self.store.get(self.pipeline_id)
        if pipeline.destination.type != self.family.destination_type:
            raise dg.Failure(
                f"Pipeline {pipeline.id!r} writes to {pipeline.destination.type!r}, not "
                f"{self.family.destination_type!r}: materialize its own asset family instead.",
                allow_retries=False,
            )
        self.context.instance.add_run_tags(
            self.context.run.run_id, {PIPELINE_TAG: self.pipeline_id, LANE_TAG: self.lane.value}
        )
        match self.lane:
            case Lane.BACKFILL:
                yield from self._backfill(pipeline)
            case Lane.LIVE:
                yield from self._live(pipeline)
            case Lane.POLL:
                yield from self._poll(pipeline)
            case Lane.RECONCILE:
                yield from self._reconcile(pipeline)
            case _:
                raise dg.Failure(
                    f"Lane {self.lane.value!r} does not run the sync assets.", allow_retries=False
                )

    # --- backfill -----------------------------------------------------------------------------------

    def _backfill(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if pipeline.desired_status is not DesiredStatus.ACTIVE:
            raise dg.Failure(
                f"Pipeline {pipeline.id!r} is {pipeline.desired_status.value}; resume it "
                f"(`sync-platform pipelines resume {pipeline.id}`) before syncing.",
                allow_retries=False,
            )
        pipeline = self._enter_working_status(pipeline)
        if self.config.full_refresh:
            self.store.reset_checkpoints(pipeline.id, [CheckpointLane.BACKFILL])
        deadline = self.started + self.config.time_limit if self.config.time_limit else None
        complete = False
        while True:
            pipeline = self.store.get(pipeline.id)
            if pipeline.desired_status is not DesiredStatus.ACTIVE:
                self.context.log.info(f"Pipeline {pipeline.id} is {pipeline.desired_status.value}; stopping.")
                break
            checkpoint = self.store.get_checkpoint(pipeline.id, CheckpointLane.BACKFILL)
            soft_limit = max(1.0, deadline - time.monotonic()) if deadline is not None else None
            config = self._engine_config(pipeline, SyncMode.FULL_REFRESH, self._run_streams(pipeline))
            eof = yield from self.batches.run(config, checkpoint.state, soft_limit=soft_limit)
            self.store.save_checkpoint(
                pipeline.id,
                eof.ending_state,
                lane=CheckpointLane.BACKFILL,
                expected_version=checkpoint.version,
            )
            self.reporter.observe(eof, self.batches.batches)
            self.batches.raise_if_failed(eof)
            if not eof.has_more:
                complete = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.context.log.info("Time budget spent; the next run resumes from the last checkpoint.")
                break
        covers_pipeline = set(self._pipeline_streams(pipeline)) <= set(self.selected)
        if complete and covers_pipeline and self.store.get(pipeline.id).status is PipelineStatus.BACKFILL:
            self.store.set_status(pipeline.id, PipelineStatus.READY)
        self.batches.raise_for_stream_errors()

    def _enter_working_status(self, pipeline: Pipeline) -> Pipeline:
        """Run setup for a new pipeline; leave ``paused``/``error`` for the status it works in."""
        status = (
            pipeline.status if pipeline.status in WORKING else pipeline.resume_status or PipelineStatus.SETUP
        )
        if status is PipelineStatus.SETUP:
            return self._setup(pipeline)
        if status is not pipeline.status:
            return self.store.set_status(pipeline.id, status)
        return pipeline

    def _setup(self, pipeline: Pipeline) -> Pipeline:
        """Provision both connectors, persist what they report back, then start the backfill."""
        self.context.log.info(f"Setting up pipeline {pipeline.id}")
        config = self.store.resolve_secrets(pipeline)
        engine = self.batches.engine
        for message in blocking.iterate(lambda: engine.setup(config)):
            if isinstance(message, ControlMessage):
                self.store.apply_control(pipeline.id, message)
            elif isinstance(message, LogMessage):
                self.context.log.info(f"{message.emitted_by}: {message.log.message}")
        return self.store.set_status(pipeline.id, PipelineStatus.BACKFILL)

    # --- live lanes ---------------------------------------------------------------------------------

    def _live(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if not lanes(pipeline).webhook_apply:
            self.context.log.info(
                f"Pipeline {pipeline.id} does not apply webhooks now ({pipeline.display_status.value}); "
                "its events stay in the inbox until it is ready."
            )
            return
        # The run applies every pending event, including those that arrive while it runs (the
        # sensor requests no second run while this one is queued), until none is left or its time
        # budget is spent. Every claimed event is applied, whatever assets the run selected:
        # marking an event processed without applying it would lose it.
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL, self._pipeline_streams(pipeline))
        deadline = self.started + (self.config.time_limit or LIVE_TIME_BUDGET_SECONDS)
        while time.monotonic() < deadline:
            with self.store.transaction() as transaction:
                events = transaction.claim_inbox_events(pipeline.id, limit=CLAIM_LIMIT)
                if not events:
                    break
                checkpoint = transaction.get_checkpoint(pipeline.id, CheckpointLane.LIVE)
                state = checkpoint.state or self._seed_live_state(pipeline)
                eof = yield from self.batches.run(config, state, pushed=events)
                self.batches.raise_if_failed(eof, stream_errors=True)  # rolls the claim back
                transaction.save_checkpoint(
                    pipeline.id,
                    eof.ending_state,
                    lane=CheckpointLane.LIVE,
                    expected_version=checkpoint.version,
                )
                transaction.mark_inbox_processed([event.id for event in events])
            self.context.log.info(f"Applied {len(events)} webhook event(s) in batch {self.batches.batches}.")
            self.reporter.observe(eof, self.batches.batches)
            yield from self.reporter.touched(eof)
        self._clear_transient_error(pipeline.id)

    def _poll(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if not lanes(pipeline).events_poll:
            self.context.log.info(f"Pipeline {pipeline.id} does not poll events now; nothing to do.")
            return
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL, self._pipeline_streams(pipeline))
        while True:
            checkpoint = self.store.get_checkpoint(pipeline.id, CheckpointLane.LIVE)
            eof = yield from self.batches.run(config, checkpoint.state or self._seed_live_state(pipeline))
            self.batches.raise_if_failed(eof, stream_errors=True)  # the cursor must not pass a failed stream
            self.store.save_checkpoint(
                pipeline.id, eof.ending_state, lane=CheckpointLane.LIVE, expected_version=checkpoint.version
            )
            self.reporter.observe(eof, self.batches.batches)
            yield from self.reporter.touched(eof)
            if not eof.has_more:
                break
        self._clear_transient_error(pipeline.id)

    def _reconcile(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if not lanes(pipeline).reconcile:
            self.context.log.info(f"Pipeline {pipeline.id} is not ready; skipping reconcile.")
            return
        since = int((datetime.now(UTC) - RECONCILE_WINDOW).timestamp())
        state: Any = {"source": {"streams": {}, "global": {"events_cursor": since}}}
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL, self._run_streams(pipeline))
        while True:
            eof = yield from self.batches.run(config, state)
            state = eof.ending_state  # in memory only: a replay never moves the live cursor
            self.reporter.observe(eof, self.batches.batches)
            self.batches.raise_if_failed(eof)
            if not eof.has_more:
                break
        for name in self.selected:
            tally: StreamTally = self.reporter.tally(name)
            if self.reporter.reportable(name) and not tally.reported:
                tally.status = "reconciled"
                yield self.reporter.materialization(tally)

    def _seed_live_state(self, pipeline: Pipeline) -> Any:
        """The first live run starts where the backfill began reading (its ``events_cursor``)."""
        backfill = self.store.get_checkpoint(pipeline.id, CheckpointLane.BACKFILL).state or {}
        global_state = (backfill.get("source") or {}).get("global") or {}
        return {"source": {"streams": {}, "global": global_state}} if global_state else None

    def _clear_transient_error(self, pipeline_id: str) -> None:
        """A successful live run is the retry a transient error was waiting for."""
        pipeline = self.store.get(pipeline_id)
        if (
            pipeline.status is PipelineStatus.ERROR
            and pipeline.error
            and pipeline.error.failure_type.retried_automatically
        ):
            self.store.set_status(pipeline_id, pipeline.resume_status or PipelineStatus.READY)

    # --- which streams, and the engine's view of the pipeline ---------------------------------------

    def _pipeline_streams(self, pipeline: Pipeline) -> list[str]:
        if pipeline.streams is None:
            return list(self.known_streams)
        return [selection.name for selection in pipeline.streams if selection.name in self.known_streams]

    def _run_streams(self, pipeline: Pipeline) -> list[str]:
        """Selected assets that the pipeline syncs; selected assets it does not sync are skipped."""
        wanted = set(self._pipeline_streams(pipeline))
        skipped = [name for name in self.selected if name not in wanted]
        if skipped:
            self.context.log.warning(f"Pipeline {pipeline.id} does not sync {', '.join(skipped)}; skipped.")
        return [name for name in self.selected if name in wanted]

    def _engine_config(self, pipeline: Pipeline, mode: SyncMode, streams: list[str]) -> PipelineConfig:
        """The engine's view of the pipeline: plaintext secrets (in-process only) and these streams."""
        resolved = self.store.resolve_secrets(pipeline)
        limits = {selection.name: selection.backfill_limit for selection in pipeline.streams or []}
        return PipelineConfig(
            source=resolved.source,
            destination=resolved.destination,
            streams=[
                StreamConfig(name=name, sync_mode=mode, backfill_limit=limits.get(name)) for name in streams
            ],
        )
