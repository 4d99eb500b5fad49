"""Runs one engine batch for a Dagster run and folds its messages into the run's tallies.

A batch is one ``engine.sync`` call bounded by the run's ``state_limit`` (and time budget). While
it runs, each stream that reports ``complete`` or ``skip`` is materialized at once (after the
progress snapshot that carries its final record count), destination flush statistics are summed
per stream, and connector ``control`` messages are persisted on the pipeline.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Generator
from typing import Any

import dagster as dg

from sync_platform.defs.failures import FAILURE_TYPE_TAG, classify_error, classify_message
from sync_platform.defs.reporting import RunReporter
from sync_platform.defs.tags import BATCHES_TAG
from sync_platform.engine import Engine, blocking
from sync_platform.pipelines import FailureType, InboxEvent, PipelineStore
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
    StreamError,
    StreamRunStatus,
    StreamSkip,
    StreamStart,
    StreamStatePayload,
    StreamStatusMessage,
)


class BatchRunner:
    """Runs the batches of one Dagster run, numbering them and tagging the run as it goes."""

    def __init__(
        self,
        context: dg.AssetExecutionContext,
        engine: Engine,
        store: PipelineStore,
        reporter: RunReporter,
        *,
        state_limit: int,
    ) -> None:
        self.context = context
        self.engine = engine
        self.store = store
        self.reporter = reporter
        self.state_limit = state_limit
        self.batches = 0

    def run(
        self,
        config: PipelineConfig,
        state: Any,
        *,
        soft_limit: float | None = None,
        pushed: list[InboxEvent] | None = None,
    ) -> Generator[dg.MaterializeResult, None, EofPayload]:
        """One batch; yields each stream's materialization as soon as it completes, returns the eof."""
        self.batches += 1
        run_id = self.context.run.run_id
        self.context.instance.add_run_tags(run_id, {BATCHES_TAG: str(self.batches)})
        eof: EofPayload | None = None
        finished: list[str] = []
        messages = blocking.iterate(
            lambda: self.engine.sync(
                config,
                state=state,
                run_id=run_id,
                state_limit=self.state_limit,
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
                        self.reporter.tally(name).records_read = progress.record_count
                    for name in finished:
                        yield from self.reporter.finished(name)
                    finished.clear()
                else:
                    self._absorb(message, finished)
        except Exception as error:
            if eof is None:
                self.tag_failure(classify_error(error))
                raise
            self.context.log.error(f"Batch {self.batches} failed: {eof.error or error}")
        if eof is None:  # pragma: no cover - the engine always ends with an eof
            raise dg.Failure("The engine ended a batch without an eof message.")
        for name in finished:
            yield from self.reporter.finished(name)
        return eof

    def _absorb(self, message: Any, finished: list[str]) -> None:
        """Fold one engine message into the tallies; streams that completed go to ``finished``."""
        now = time.monotonic()
        if isinstance(message, StreamStatusMessage):
            payload = message.stream_status
            tally = self.reporter.tally(payload.stream)
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
            tally = self.reporter.tally(message.source_state.stream)
            tally.cursor = message.source_state.data
            tally.checkpoints += 1
            tally.started_at = tally.started_at or now
        elif isinstance(message, LogMessage):
            data = message.log.data or {}
            if isinstance(data.get("stream"), str) and any(key in data for key in ("inserted", "updated")):
                self.reporter.tally(data["stream"]).add_flush(data)
            elif message.log.level in ("warn", "error"):
                self.context.log.warning(f"{message.emitted_by}: {message.log.message}")
        elif isinstance(message, ControlMessage):
            self.store.apply_control(self.reporter.pipeline_id, message)

    def raise_if_failed(self, eof: EofPayload, *, stream_errors: bool = False) -> None:
        """A failed batch fails the run, typed so auth/config trouble parks the pipeline.

        With ``stream_errors``, a stream that errored in this batch fails it too: the live lanes
        must not mark events processed (or move their cursor) when a stream did not commit them.
        """
        connection = eof.run_progress.connection_status
        errored = [
            f"{name}: {progress.message}"
            for name, progress in eof.request_progress.streams.items()
            if progress.status is StreamRunStatus.ERRORED
        ]
        if eof.reason is EofReason.ERROR:
            message = eof.error or "the sync failed"
        elif connection is not None and connection.status is ConnectionStatus.FAILED:
            message = connection.message or "the source could not connect"
        elif stream_errors and errored:
            message = "stream error, nothing of this batch is marked done: " + "; ".join(errored)
        else:
            return
        failure_type = classify_message(message)
        self.tag_failure(failure_type)
        raise dg.Failure(
            f"Batch {self.batches} of pipeline {self.reporter.pipeline_id} failed "
            f"({failure_type.value}): {message}",
            metadata={"failure_type": failure_type.value, "batch": self.batches},
            allow_retries=failure_type.retried_automatically,
        )

    def raise_for_stream_errors(self) -> None:
        errored = {name: t.message for name, t in self.reporter.tallies.items() if t.status == "errored"}
        if errored:
            details = "; ".join(f"{name}: {message}" for name, message in sorted(errored.items()))
            failure_type = classify_message(details)
            self.tag_failure(failure_type)
            raise dg.Failure(
                f"{len(errored)} stream(s) of pipeline {self.reporter.pipeline_id} failed: {details}",
                metadata={"failure_type": failure_type.value, "streams": sorted(errored)},
            )

    def tag_failure(self, failure_type: FailureType) -> None:
        self.context.instance.add_run_tags(self.context.run.run_id, {FAILURE_TYPE_TAG: failure_type.value})


async def _pushed(events: list[InboxEvent]) -> AsyncIterator[Any]:
    """Inbox events, oldest first, as the source's pushed input (verified once, at intake)."""
    for event in events:
        yield event.payload
