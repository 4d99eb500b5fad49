"""The body of a stream family's sync run: batches that each end on a committed checkpoint.

One run serves one pipeline (the partition) and one lane (the ``sync/lane`` run tag):

- ``backfill`` (the default, and what a UI materialization does): setup if the pipeline is new,
  then ``engine.sync`` batches from the backfill checkpoint, saving it after every batch; the
  pipeline becomes ``ready`` once every stream is done.
- ``live``: claims the pipeline's pending inbox events, applies them, and saves the live checkpoint
  and marks the events processed in one transaction.
- ``poll``: reads changes from the events API since the live checkpoint (incremental streams).
- ``reconcile``: replays a recent window of events into the destination from a throwaway state,
  healing anything a webhook missed; newer-wins upserts make the replay harmless.

A stream's ``MaterializeResult`` is yielded as soon as it completes (its data is committed by then:
the destination re-emits a stream's last checkpoint before the source reports it complete), and
every batch logs an ``AssetObservation`` per stream it touched. Between batches the run re-reads the
pipeline and stops when the user paused or deleted it (cooperative pause).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from sync_platform.defs.config import SyncConfig
from sync_platform.defs.failures import FAILURE_TYPE_TAG, classify_error, classify_message
from sync_platform.defs.families import DestinationFamily
from sync_platform.defs.probes import destination_row_count
from sync_platform.defs.resources import PipelineResource, SyncEngineResource
from sync_platform.defs.stream_metadata import StreamTally, materialization_metadata, observation_metadata
from sync_platform.defs.tags import BATCHES_TAG, INBOX_MAX_ID_TAG, LANE_TAG, PIPELINE_TAG, Lane
from sync_platform.engine import blocking
from sync_platform.pipelines import (
    CheckpointLane,
    DesiredStatus,
    InboxEvent,
    Pipeline,
    PipelineStatus,
    PipelineStore,
    lanes,
)
from sync_platform.protocol import (
    ConnectionStatus,
    ControlMessage,
    EofMessage,
    EofPayload,
    EofReason,
    LogMessage,
    PipelineConfig,
    ProgressMessage,
    SourceStateMessage,
    StreamComplete,
    StreamConfig,
    StreamError,
    StreamSkip,
    StreamStart,
    StreamStatePayload,
    StreamStatusMessage,
    SyncMode,
)

CLAIM_LIMIT = 500
RECONCILE_WINDOW = timedelta(days=3)
ROW_CHECK = "row_count_matches_source"


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
        self.engine = engine.engine()
        self.family = family
        self.keys_by_stream = {stream: key for key, stream in streams_by_key.items()}
        self.selected = sorted(streams_by_key[key] for key in context.selected_asset_keys)
        self.pipeline_id = context.partition_key
        self.lane = Lane(context.run.tags.get(LANE_TAG, Lane.BACKFILL))
        self.tallies: dict[str, StreamTally] = {}
        self.batches = 0
        self.started = time.monotonic()

    # --- entry point ------------------------------------------------------------------------------

    def execute(self) -> Iterator[dg.MaterializeResult]:
        pipeline = self.store.get(self.pipeline_id)
        self._check_family(pipeline)
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
                raise dg.Failure(f"Lane {self.lane!r} does not run the sync assets.", allow_retries=False)

    def _check_family(self, pipeline: Pipeline) -> None:
        if pipeline.destination.type != self.family.destination_type:
            raise dg.Failure(
                f"Pipeline {pipeline.id!r} writes to {pipeline.destination.type!r}, not "
                f"{self.family.destination_type!r}: materialize its own asset family instead.",
                allow_retries=False,
            )

    # --- lanes --------------------------------------------------------------------------------------

    def _backfill(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if pipeline.desired_status is not DesiredStatus.ACTIVE:
            raise dg.Failure(
                f"Pipeline {pipeline.id!r} is {pipeline.desired_status.value}; resume it "
                f"(`sync-platform pipelines resume {pipeline.id}`) before syncing.",
                allow_retries=False,
            )
        if pipeline.status is PipelineStatus.SETUP or (
            pipeline.status in (PipelineStatus.PAUSED, PipelineStatus.ERROR)
            and pipeline.resume_status is PipelineStatus.SETUP
        ):
            pipeline = self._setup(pipeline)
        elif pipeline.status in (PipelineStatus.PAUSED, PipelineStatus.ERROR):
            pipeline = self.store.set_status(pipeline.id, pipeline.resume_status or PipelineStatus.BACKFILL)
        if self.config.full_refresh:
            self.store.reset_checkpoints(pipeline.id, [CheckpointLane.BACKFILL])
        deadline = self.started + self.config.time_limit if self.config.time_limit else None
        complete = False
        while True:
            pipeline = self.store.get(pipeline.id)
            if pipeline.desired_status is not DesiredStatus.ACTIVE:
                self.context.log.info(
                    f"Pipeline {pipeline.id} is now {pipeline.desired_status.value}; stopping."
                )
                break
            checkpoint = self.store.get_checkpoint(pipeline.id, CheckpointLane.BACKFILL)
            soft_limit = max(1.0, deadline - time.monotonic()) if deadline is not None else None
            eof = yield from self._batch(
                self._engine_config(pipeline, SyncMode.FULL_REFRESH), checkpoint.state, soft_limit=soft_limit
            )
            self.store.save_checkpoint(
                pipeline.id,
                eof.ending_state,
                lane=CheckpointLane.BACKFILL,
                expected_version=checkpoint.version,
            )
            self._observe(eof)
            self._raise_if_failed(eof)
            if not eof.has_more:
                complete = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                self.context.log.info("Time budget spent; the next run resumes from the last checkpoint.")
                break
        if complete and self._covers_pipeline(pipeline) and pipeline.status is PipelineStatus.BACKFILL:
            self.store.set_status(pipeline.id, PipelineStatus.READY)
        self._raise_for_stream_errors()

    def _setup(self, pipeline: Pipeline) -> Pipeline:
        """Provision both connectors, persist what they report back, then start the backfill."""
        self.context.log.info(f"Setting up pipeline {pipeline.id}")
        config = self.store.resolve_secrets(pipeline)
        for message in blocking.iterate(lambda: self.engine.setup(config)):
            if isinstance(message, ControlMessage):
                self.store.apply_control(pipeline.id, message)
            elif isinstance(message, LogMessage):
                self.context.log.info(f"{message.emitted_by}: {message.log.message}")
        return self.store.set_status(pipeline.id, PipelineStatus.BACKFILL)

    def _live(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if not lanes(pipeline).webhook_apply:
            self.context.log.info(
                f"Pipeline {pipeline.id} does not apply webhooks now ({pipeline.display_status.value}); "
                "its events stay in the inbox until it is ready."
            )
            return
        tag = self.context.run.tags.get(INBOX_MAX_ID_TAG)
        up_to = int(tag) if tag else None
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL, all_streams=True)
        while True:
            with self.store.transaction() as transaction:
                events = transaction.claim_inbox_events(pipeline.id, up_to_id=up_to, limit=CLAIM_LIMIT)
                if not events:
                    break
                checkpoint = transaction.get_checkpoint(pipeline.id, CheckpointLane.LIVE)
                eof = yield from self._batch(config, checkpoint.state, pushed=events)
                self._raise_if_failed(eof)
                transaction.save_checkpoint(
                    pipeline.id,
                    eof.ending_state,
                    lane=CheckpointLane.LIVE,
                    expected_version=checkpoint.version,
                )
                transaction.mark_inbox_processed([event.id for event in events])
            self.context.log.info(f"Applied {len(events)} webhook event(s) (batch {self.batches}).")
            self._observe(eof)
            yield from self._report_touched(eof)

    def _poll(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if not lanes(pipeline).events_poll:
            self.context.log.info(f"Pipeline {pipeline.id} does not poll events now; nothing to do.")
            return
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL)
        while True:
            checkpoint = self.store.get_checkpoint(pipeline.id, CheckpointLane.LIVE)
            eof = yield from self._batch(config, checkpoint.state)
            self.store.save_checkpoint(
                pipeline.id, eof.ending_state, lane=CheckpointLane.LIVE, expected_version=checkpoint.version
            )
            self._observe(eof)
            self._raise_if_failed(eof)
            yield from self._report_touched(eof)
            if not eof.has_more:
                break

    def _reconcile(self, pipeline: Pipeline) -> Iterator[dg.MaterializeResult]:
        if not lanes(pipeline).reconcile:
            self.context.log.info(f"Pipeline {pipeline.id} is not ready; skipping reconcile.")
            return
        since = int((datetime.now(UTC) - RECONCILE_WINDOW).timestamp())
        state: Any = {"source": {"streams": {}, "global": {"events_cursor": since}}}
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL)
        while True:
            eof = yield from self._batch(config, state)
            state = eof.ending_state  # kept in memory only: a replay never moves the live cursor
            self._observe(eof)
            self._raise_if_failed(eof)
            if not eof.has_more:
                break
        for name in self.selected:
            tally = self.tallies.setdefault(name, StreamTally(name))
            if not tally.reported:
                tally.status = "reconciled"
                yield self._materialization(tally)

    # --- one batch ----------------------------------------------------------------------------------

    def _engine_config(
        self, pipeline: Pipeline, mode: SyncMode, *, all_streams: bool = False
    ) -> PipelineConfig:
        """The engine's view of the pipeline: plaintext secrets (in-process only), streams of this run."""
        resolved = self.store.resolve_secrets(pipeline)
        chosen = self._pipeline_streams(pipeline) if all_streams else self._run_streams(pipeline)
        options = {selection.name: selection for selection in pipeline.streams or []}
        streams = [
            StreamConfig(
                name=name,
                sync_mode=mode,
                backfill_limit=getattr(options.get(name), "backfill_limit", None),
            )
            for name in chosen
        ]
        return PipelineConfig(source=resolved.source, destination=resolved.destination, streams=streams)

    def _pipeline_streams(self, pipeline: Pipeline) -> list[str]:
        if pipeline.streams is None:
            return sorted(self.keys_by_stream)
        return [selection.name for selection in pipeline.streams if selection.name in self.keys_by_stream]

    def _run_streams(self, pipeline: Pipeline) -> list[str]:
        """Selected assets that the pipeline syncs; selected assets it does not sync are skipped."""
        wanted = set(self._pipeline_streams(pipeline))
        skipped = [name for name in self.selected if name not in wanted]
        if skipped:
            self.context.log.warning(
                f"Pipeline {pipeline.id} does not sync {', '.join(skipped)}; those assets are skipped."
            )
        return [name for name in self.selected if name in wanted]

    def _covers_pipeline(self, pipeline: Pipeline) -> bool:
        return set(self._pipeline_streams(pipeline)) <= set(self.selected)

    def _batch(
        self,
        config: PipelineConfig,
        state: Any,
        *,
        soft_limit: float | None = None,
        pushed: list[InboxEvent] | None = None,
    ) -> Generator[dg.MaterializeResult, None, EofPayload]:
        """Run one batch, yielding each stream's materialization as soon as it completes."""
        self.batches += 1
        self.context.instance.add_run_tags(self.context.run.run_id, {BATCHES_TAG: str(self.batches)})
        eof: EofPayload | None = None
        finished: list[str] = []
        messages = blocking.iterate(
            lambda: self.engine.sync(
                config,
                state=state,
                run_id=self.context.run.run_id,
                state_limit=self.config.state_limit,
                soft_time_limit=soft_limit,
                input=_pushed(pushed) if pushed is not None else None,
            )
        )
        try:
            for message in messages:
                if isinstance(message, EofMessage):
                    eof = message.eof
                elif isinstance(message, ProgressMessage):
                    for name, progress in message.progress.streams.items():
                        self._tally(name).records_read = progress.record_count
                    for name in finished:
                        yield from self._complete(name)
                    finished.clear()
                else:
                    self._absorb(message, finished)
        except Exception as error:
            if eof is None:
                self._tag_failure(classify_error(error))
                raise
            self.context.log.error(f"Batch {self.batches} failed: {eof.error or error}")
        if eof is None:  # pragma: no cover - the engine always ends with an eof
            raise dg.Failure("The engine ended a batch without an eof message.")
        for name in finished:
            yield from self._complete(name)
        return eof

    def _absorb(self, message: Any, finished: list[str]) -> None:
        """Fold one engine message into the stream tallies; completed streams go to ``finished``."""
        now = time.monotonic()
        if isinstance(message, StreamStatusMessage):
            payload = message.stream_status
            tally = self._tally(payload.stream)
            match payload:
                case StreamStart():
                    tally.started_at = tally.started_at or now
                    tally.status = "started"
                case StreamComplete():
                    tally.status, tally.finished_at = "completed", now
                    finished.append(payload.stream)
                case StreamSkip(reason=reason):
                    tally.status, tally.finished_at, tally.message = "skipped", now, reason
                    finished.append(payload.stream)
                case StreamError(error=error):
                    tally.status, tally.finished_at, tally.message = "errored", now, error
                    self.context.log.error(f"Stream {payload.stream} failed: {error}")
        elif isinstance(message, SourceStateMessage) and isinstance(message.source_state, StreamStatePayload):
            tally = self._tally(message.source_state.stream)
            tally.cursor = message.source_state.data
            tally.checkpoints += 1
            tally.started_at = tally.started_at or now
        elif isinstance(message, LogMessage):
            data = message.log.data or {}
            if isinstance(data.get("stream"), str) and any(key in data for key in ("inserted", "updated")):
                self._tally(data["stream"]).add_flush(data)
            elif message.log.level in ("warn", "error"):
                self.context.log.warning(f"{message.emitted_by}: {message.log.message}")
        elif isinstance(message, ControlMessage):
            self.store.apply_control(self.pipeline_id, message)

    # --- reporting ----------------------------------------------------------------------------------

    def _tally(self, name: str) -> StreamTally:
        return self.tallies.setdefault(name, StreamTally(name))

    def _complete(self, name: str) -> Iterator[dg.MaterializeResult]:
        tally = self._tally(name)
        if name in self.selected and name in self.keys_by_stream and not tally.reported:
            yield self._materialization(tally)

    def _materialization(self, tally: StreamTally) -> dg.MaterializeResult:
        tally.reported = True
        pipeline = self.store.get(self.pipeline_id)
        destination = self.store.resolve_secrets(pipeline).destination
        rows = destination_row_count(destination, tally.name)
        key = self.keys_by_stream[tally.name]
        checks = []
        listed = tally.cursor.get("listed") if isinstance(tally.cursor, dict) else None
        if (
            self.lane is Lane.BACKFILL
            and tally.status == "completed"
            and isinstance(listed, int)
            and rows is not None
        ):
            checks.append(
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name=ROW_CHECK,
                    passed=rows == listed,
                    severity=dg.AssetCheckSeverity.WARN,
                    metadata={
                        "destination_rows": rows,
                        "source_objects": listed,
                        "difference": rows - listed,
                    },
                    description="Rows in the destination against the objects the completed backfill listed.",
                )
            )
        return dg.MaterializeResult(
            asset_key=key,
            metadata=materialization_metadata(
                tally, pipeline_id=self.pipeline_id, lane=self.lane.value, row_count=rows
            ),
            check_results=checks,
        )

    def _report_touched(self, eof: EofPayload) -> Iterator[dg.MaterializeResult]:
        """Live and poll batches: materialize every selected stream the batch wrote to."""
        for name, progress in eof.request_progress.streams.items():
            tally = self._tally(name)
            if progress.record_count and name in self.selected and name in self.keys_by_stream:
                tally.status = "applied"
                tally.reported = False  # a later batch of the same run reports the stream again
                yield self._materialization(tally)

    def _observe(self, eof: EofPayload) -> None:
        """One ``AssetObservation`` per selected stream the batch touched: its work and checkpoint."""
        for name, progress in eof.request_progress.streams.items():
            if name not in self.keys_by_stream or name not in self.selected:
                continue
            if not (progress.record_count or progress.state_count):
                continue
            cursor = (eof.ending_state.source.streams.get(name) if eof.ending_state else None) or self._tally(
                name
            ).cursor
            self.context.log_event(
                dg.AssetObservation(
                    asset_key=self.keys_by_stream[name],
                    partition=self.pipeline_id,
                    metadata=observation_metadata(
                        self.batches,
                        progress.record_count,
                        progress.state_count,
                        cursor,
                        status=progress.status.value,
                        has_more=eof.has_more,
                    ),
                )
            )

    def _raise_if_failed(self, eof: EofPayload) -> None:
        """A failed batch fails the run, typed so auth/config trouble parks the pipeline."""
        connection = eof.run_progress.connection_status
        if eof.reason is EofReason.ERROR:
            message = eof.error or "the sync failed"
        elif connection is not None and connection.status is ConnectionStatus.FAILED:
            message = connection.message or "the source could not connect"
        else:
            return
        failure_type = classify_message(message)
        self._tag_failure(failure_type)
        raise dg.Failure(
            f"Batch {self.batches} of pipeline {self.pipeline_id} failed ({failure_type.value}): {message}",
            metadata={"failure_type": failure_type.value, "batch": self.batches},
            allow_retries=failure_type.retried_automatically,
        )

    def _raise_for_stream_errors(self) -> None:
        errored = {name: tally.message for name, tally in self.tallies.items() if tally.status == "errored"}
        if errored:
            details = "; ".join(f"{name}: {message}" for name, message in sorted(errored.items()))
            failure_type = classify_message(details)
            self._tag_failure(failure_type)
            raise dg.Failure(
                f"{len(errored)} stream(s) of pipeline {self.pipeline_id} failed: {details}",
                metadata={"failure_type": failure_type.value, "streams": sorted(errored)},
            )

    def _tag_failure(self, failure_type: Any) -> None:
        self.context.instance.add_run_tags(
            self.context.run.run_id, {FAILURE_TYPE_TAG: str(failure_type.value)}
        )


async def _pushed(events: list[InboxEvent]) -> AsyncIterator[Any]:
    """Inbox events, oldest first, as the source's pushed input (already verified at intake)."""
    for event in events:
        yield event.payload
