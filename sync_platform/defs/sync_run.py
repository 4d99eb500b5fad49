"""A stream family's sync run in Dagster: the pipeline runner's events, presented as Dagster events.

One run serves one pipeline (the partition) and one lane (the ``sync/lane`` run tag; ``backfill``
by default, which is what materializing from the UI does). The lane itself (setup, batches,
checkpoints, status moves, failure kinds, the run lock) is ``pipelines.runner``; this module only
turns its events into what the Dagster UI shows:

- each stream that completes becomes a ``MaterializeResult`` (row count, column work, cursor);
- each batch becomes one ``AssetObservation`` per stream it touched (batch number, records, the
  committed checkpoint) and updates the ``sync/batches`` run tag;
- live and poll batches materialize every selected stream they wrote to;
- a failed lane fails the run with its root cause; the runner has already recorded it on the
  pipeline (kind, message, parked or retried), so the failure sensor leaves it alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import closing

import dagster as dg

from sync_platform.defs.config import SyncConfig
from sync_platform.defs.families import DestinationFamily
from sync_platform.defs.reporting import RunReporter
from sync_platform.defs.resources import PipelineResource, SyncEngineResource
from sync_platform.defs.stream_metadata import StreamTally
from sync_platform.defs.tags import (
    BATCHES_TAG,
    FAILURE_KIND_TAG,
    LANE_TAG,
    OUTCOME_TAG,
    PIPELINE_TAG,
    RECORDS_TAG,
    Outcome,
)
from sync_platform.engine import source_lanes
from sync_platform.engine.resolve import bind_source
from sync_platform.pipelines import Pipeline, PipelineBusyError
from sync_platform.pipelines.account_status import account_counts, account_status
from sync_platform.pipelines.runner import (
    AccountsPurged,
    BatchCommitted,
    BatchStarted,
    ControlApplied,
    EngineMessage,
    Housekept,
    Lane,
    LaneFinished,
    PipelineNotRunnableError,
    PipelineRunner,
    Retention,
    RunEvent,
    RunFailed,
    RunOptions,
    SetupRan,
    StatusChanged,
)


def dagster_holder(run_id: str) -> str:
    """How a Dagster run is named in run locks and recorded errors."""
    return f"Dagster run {run_id}"


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
        self.store = pipelines.store()
        self.family = family
        self.selected = sorted(streams_by_key[key] for key in context.selected_asset_keys)
        self.pipeline_id = context.partition_key
        self.lane = Lane(context.run.tags.get(LANE_TAG, Lane.BACKFILL))
        self.engine = engine.engine()
        self.records = 0  # committed by this run, for the run list (RECORDS_TAG)
        self.runner = PipelineRunner(self.store, self.engine, holder=dagster_holder(context.run.run_id))
        self.reporter = RunReporter(
            context,
            self.store,
            pipeline_id=self.pipeline_id,
            lane=self.lane,
            keys_by_stream={stream: key for key, stream in streams_by_key.items()},
            selected=self.selected,
            listed_count=self._listed_count,
            account_counts=lambda pipeline: account_counts(account_status(pipeline, self.engine.registry)),
        )

    def execute(self) -> Iterator[dg.MaterializeResult]:
        # Without its checkpoints: this read is kept for the whole run, and a Connect platform's
        # backfill checkpoint is 21 MB of JSON at 10,000 accounts (the lane reads its own).
        pipeline = self.store.get_without_checkpoints(self.pipeline_id)
        if pipeline.destination.type != self.family.destination_type:
            self._tag({OUTCOME_TAG: Outcome.REFUSED.value})
            raise dg.Failure(
                f"Pipeline {pipeline.id!r} writes to {pipeline.destination.type!r}, not "
                f"{self.family.destination_type!r}: materialize its own asset family instead.",
                allow_retries=False,
            )
        self._tag({PIPELINE_TAG: self.pipeline_id, LANE_TAG: self.lane.value})
        try:
            events = self.runner.run(self.pipeline_id, [self.lane], self._options(pipeline))
            with closing(events):  # a failure raised while presenting ends the run (and its lock) now
                for event in events:
                    yield from self._present(event)
        except PipelineNotRunnableError as refusal:
            if refusal.paused and self.lane is not Lane.BACKFILL:
                # Paused while this run waited in the queue: its events stay in the inbox for the
                # resume, and there is nothing to do now.
                self.context.log.info(str(refusal))
                return
            self._tag({OUTCOME_TAG: Outcome.REFUSED.value})
            raise dg.Failure(str(refusal), allow_retries=False) from None
        except PipelineBusyError as refusal:
            self._tag({OUTCOME_TAG: Outcome.REFUSED.value})
            raise dg.Failure(str(refusal), allow_retries=False) from None

    def _options(self, pipeline: Pipeline) -> RunOptions:
        """Backfills and reconciles read the selected streams; live lanes apply every event (marking
        an event applied without applying it would lose it), whatever the run selected."""
        synced = None if pipeline.streams is None else {s.name for s in pipeline.streams}
        subset = [name for name in self.selected if synced is None or name in synced]
        skipped = sorted(set(self.selected) - set(subset))
        if skipped and self.lane in (Lane.BACKFILL, Lane.RECONCILE):
            self.context.log.warning(
                f"Pipeline {self.pipeline_id} does not sync {', '.join(skipped)}; skipped."
            )
        return RunOptions(
            state_limit=self.config.state_limit,
            time_limit=self.config.time_limit,
            streams=subset if self.lane in (Lane.BACKFILL, Lane.RECONCILE) else None,
            reset_state=self.config.reset_state,
            run_id=self.context.run.run_id,
            retention=Retention.from_environ(os.environ),
        )

    def _present(self, event: RunEvent) -> Iterator[dg.MaterializeResult]:
        log = self.context.log
        match event:
            case EngineMessage(message=message):
                yield from self.reporter.absorb(message)
            case BatchStarted(number=number):
                self._tag({BATCHES_TAG: str(number)})
            case BatchCommitted(eof=eof, number=number, events_applied=applied):
                self.records += eof.request_progress.derived.total_record_count
                self._tag({RECORDS_TAG: str(self.records)})
                yield from self.reporter.flush_finished()
                self.reporter.observe(eof, number)
                if self.lane in (Lane.LIVE, Lane.POLL):
                    if applied:
                        noun = "webhook event" if applied == 1 else "webhook events"
                        log.info(f"Applied {applied} {noun} in batch {number}.")
                    yield from self.reporter.touched(eof)
            case LaneFinished(complete=complete, reason=reason):
                log.info(f"{self.lane.value} lane of {self.pipeline_id}: {reason}")
                if self.lane is Lane.RECONCILE and complete:
                    yield from self._reconciled()
            case StatusChanged(before=before, after=after):
                log.info(f"Pipeline {self.pipeline_id}: {before.value} -> {after.value}")
            case SetupRan():
                log.info(f"Set up pipeline {self.pipeline_id}")
            case Housekept(inbox_rows=rows, tombstones=tombstones):
                pruned = "none kept" if tombstones is None else f"{tombstones} pruned"
                log.info(f"Retention: {rows} applied webhook event(s) pruned; tombstones: {pruned}")
            case AccountsPurged():
                log.info(f"Pipeline {self.pipeline_id}: {event.summary()}")
            case ControlApplied(side=side):
                log.info(f"Stored the {side} connector's new config for {self.pipeline_id}")
            case RunFailed(error=error):
                self._tag({FAILURE_KIND_TAG: error.kind.value, OUTCOME_TAG: Outcome.FAILURE_RECORDED.value})
                raise dg.Failure(
                    f"The {self.lane.value} lane of pipeline {self.pipeline_id} failed: {error.summary()}",
                    metadata={"failure_kind": error.kind.value, "attempts": error.attempts},
                    allow_retries=False,
                )

    def _reconciled(self) -> Iterator[dg.MaterializeResult]:
        for name in self.selected:
            tally: StreamTally = self.reporter.tally(name)
            if self.reporter.reportable(name) and not tally.reported:
                tally.status = "reconciled"
                yield self.reporter.materialization(tally)

    def _listed_count(self, stream_state: object) -> int | None:
        pipeline = self.store.get_without_checkpoints(self.pipeline_id)  # the source's config only
        source = bind_source(self.engine.registry, self.store.resolve_secrets(pipeline).source).connector
        return source_lanes.listed_count(source, stream_state)

    def _tag(self, tags: dict[str, str]) -> None:
        self.context.instance.add_run_tags(self.context.run.run_id, tags)
