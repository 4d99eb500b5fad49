"""What a sync run shows in Dagster: a materialization per finished stream, observations per batch.

``RunReporter`` owns the per-stream tallies of one run, folded from the engine messages the
pipeline runner passes on (``absorb``), and turns them into events: a stream's ``MaterializeResult``
(destination row count, this run's work, its cursor, and the row-count check after a completed
backfill), and one ``AssetObservation`` per stream a batch touched, recording the batch number, its
records and the committed checkpoint. Observations are written the moment they are logged, so a
run that dies later still shows every checkpoint it committed. Presentation only: every decision
(what to run, when it failed, what to save) is the runner's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from sync_platform.defs.locations import location_metadata
from sync_platform.defs.probes import destination_row_count
from sync_platform.defs.stream_metadata import StreamTally, materialization_metadata, observation_metadata
from sync_platform.engine.destination_kit import FlushReport
from sync_platform.pipelines import CheckpointLane, Pipeline, PipelineStore
from sync_platform.pipelines.runner import Lane
from sync_platform.protocol import (
    EofPayload,
    LogMessage,
    Message,
    ProgressMessage,
    SourceStateMessage,
    StreamComplete,
    StreamError,
    StreamSkip,
    StreamStart,
    StreamStatePayload,
    StreamStatusMessage,
)

ROW_CHECK = "row_count_matches_source"


class RunReporter:
    """Tallies and Dagster events of one run of one pipeline."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        store: PipelineStore,
        *,
        pipeline_id: str,
        lane: Lane,
        keys_by_stream: Mapping[str, dg.AssetKey],
        selected: Sequence[str],
        listed_count: Callable[[Any], int | None] = lambda _: None,
        account_counts: Callable[[Pipeline], dict[str, int]] = lambda _: {},
    ) -> None:
        self.context = context
        self.store = store
        self.pipeline_id = pipeline_id
        self.lane = lane
        self.keys_by_stream = keys_by_stream
        self.selected = set(selected)
        self.listed_count = listed_count  # the source's reading of a stream checkpoint's object count
        # How many of a Connect platform's accounts are in each status: counts, never one entry per
        # account, so 10,000 accounts cost a materialization four numbers, not 10,000 observations.
        self.account_counts = account_counts
        self._counted: tuple[dict[CheckpointLane, datetime | None], dict[str, int]] | None = None
        self.tallies: dict[str, StreamTally] = {}
        self._finished: list[str] = []

    def tally(self, name: str) -> StreamTally:
        return self.tallies.setdefault(name, StreamTally(name))

    def absorb(self, message: Message) -> Iterator[dg.MaterializeResult]:
        """Fold one engine message into the tallies; a stream that completed (or was skipped) is
        materialized after the next progress snapshot, which carries its final record count."""
        now = time.monotonic()
        if isinstance(message, ProgressMessage):
            for name, progress in message.progress.streams.items():
                self.tally(name).records_read = progress.record_count
            finished, self._finished = self._finished, []
            for name in finished:
                yield from self.finished(name)
        elif isinstance(message, StreamStatusMessage):
            payload = message.stream_status
            tally = self.tally(payload.stream)
            match payload:
                case StreamStart():
                    tally.started_at = tally.started_at or now
                    tally.status = "started"
                case StreamComplete():
                    tally.status, tally.finished_at = "completed", now
                    self._finished.append(payload.stream)
                case StreamSkip(reason=reason):
                    tally.status, tally.finished_at, tally.message = "skipped", now, reason
                    self._finished.append(payload.stream)
                case StreamError(error=error):
                    tally.status, tally.finished_at, tally.message = "errored", now, error
                    self.context.log.error(f"Stream {payload.stream} failed: {error}")
        elif isinstance(message, SourceStateMessage) and isinstance(message.source_state, StreamStatePayload):
            tally = self.tally(message.source_state.stream)
            tally.cursor = message.source_state.data
            tally.checkpoints += 1
            tally.started_at = tally.started_at or now
        elif isinstance(message, LogMessage):
            if (report := FlushReport.from_log(message)) is not None:
                self.tally(report.stream).add_flush(report)
            elif message.log.level in ("warn", "error"):
                self.context.log.warning(f"{message.emitted_by}: {message.log.message}")

    def flush_finished(self) -> Iterator[dg.MaterializeResult]:
        """Streams that finished after the batch's last progress snapshot."""
        finished, self._finished = self._finished, []
        for name in finished:
            yield from self.finished(name)

    def reportable(self, name: str) -> bool:
        return name in self.selected and name in self.keys_by_stream

    def finished(self, name: str) -> Iterator[dg.MaterializeResult]:
        """The stream's materialization, once per run, if the run selected it."""
        tally = self.tally(name)
        if self.reportable(name) and not tally.reported:
            yield self.materialization(tally)

    def materialization(self, tally: StreamTally) -> dg.MaterializeResult:
        tally.reported = True
        metadata, rows = self._metadata(tally)
        key = self.keys_by_stream[tally.name]
        return dg.MaterializeResult(
            asset_key=key, metadata=metadata, check_results=self._row_check(tally, key, rows)
        )

    def _metadata(self, tally: StreamTally) -> tuple[dict[str, Any], int | None]:
        """The stream's metadata (its row count and where it is included), and the row count."""
        pipeline = self.store.get_without_checkpoints(self.pipeline_id)
        destination = self.store.resolve_secrets(pipeline).destination
        rows = destination_row_count(destination, tally.name)
        lane = self.lane.value
        metadata = materialization_metadata(tally, pipeline_id=self.pipeline_id, lane=lane, row_count=rows)
        return {**metadata, **location_metadata(destination, tally.name), **self._account_counts()}, rows

    def _account_counts(self) -> dict[str, int]:
        """The accounts in each status, counted from the checkpoints again only when one of them
        was saved since the last count: they are the one thing here that needs the checkpoints (a
        Connect platform's backfill checkpoint is 21 MB of JSON at 10,000 accounts), and the
        streams a batch finishes are materialized one after the other."""
        saved = self.store.checkpoints_updated_at(self.pipeline_id)
        if self._counted is None or self._counted[0] != saved:
            self._counted = (saved, self.account_counts(self.store.get(self.pipeline_id)))
        return self._counted[1]

    def _again(self, tally: StreamTally) -> Iterator[dg.MaterializeResult]:
        """A materialization of a stream that may already have been materialized in this run.

        An op may yield each asset's output once, but a live run applies its inbox in several
        batches, and each batch that wrote to a stream is a new version of it: the first is the
        output, later ones are logged as runtime materializations of the run's partition.
        """
        if not tally.reported:
            yield self.materialization(tally)
            return
        self.context.log_event(
            dg.AssetMaterialization(
                asset_key=self.keys_by_stream[tally.name],
                partition=self.pipeline_id,
                metadata=self._metadata(tally)[0],
            )
        )

    def _row_check(self, tally: StreamTally, key: dg.AssetKey, rows: int | None) -> list[dg.AssetCheckResult]:
        """After a completed backfill: destination rows against the objects the backfill listed."""
        listed = self.listed_count(tally.checkpoint) if tally.cursor is not None else None
        complete = tally.status == "completed"
        if self.lane is not Lane.BACKFILL or not complete or listed is None or rows is None:
            return []
        return [
            dg.AssetCheckResult(
                asset_key=key,
                check_name=ROW_CHECK,
                passed=rows == listed,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"destination_rows": rows, "source_objects": listed, "difference": rows - listed},
                description="Rows in the destination against the objects the completed backfill listed.",
            )
        ]

    def touched(self, eof: EofPayload) -> Iterator[dg.MaterializeResult]:
        """Live and poll batches: a materialization for every selected stream the batch wrote to."""
        now = time.monotonic()
        live_cursor = eof.ending_state.source.global_ if eof.ending_state is not None else None
        for name, progress in eof.request_progress.streams.items():
            if progress.record_count and self.reportable(name):
                tally = self.tally(name)
                tally.status = "applied"
                tally.records_read = progress.record_count
                tally.cursor = live_cursor  # the live lane's checkpoint (events cursor, last event)
                tally.started_at, tally.finished_at = now - eof.request_progress.elapsed_ms / 1000, now
                yield from self._again(tally)
                tally.flush = dict.fromkeys(tally.flush, 0)  # each batch's materialization shows its own work

    def observe(self, eof: EofPayload, batch: int) -> None:
        """One ``AssetObservation`` per selected stream the batch touched: its work and checkpoint."""
        for name, progress in eof.request_progress.streams.items():
            if not self.reportable(name) or not (progress.record_count or progress.state_count):
                continue
            source = eof.ending_state.source if eof.ending_state else None
            # Backfill batches commit a per-stream checkpoint; live ones the global (events) one.
            committed = (source.streams.get(name) or source.global_ or None) if source else None
            self.context.log_event(
                dg.AssetObservation(
                    asset_key=self.keys_by_stream[name],
                    partition=self.pipeline_id,
                    metadata=observation_metadata(
                        batch,
                        progress.record_count,
                        progress.state_count,
                        committed if committed is not None else self.tally(name).checkpoint,
                        status=progress.status.value,
                        has_more=eof.has_more,
                    ),
                )
            )
