"""A pipeline's run history outside Dagster: runs the CLI, the HTTP API and the console started.

Dagster keeps its own runs (tagged ``pipeline/id``); a ``sync-batch`` from a terminal or a "sync
now" from the console is not a Dagster run, yet an operator looking at a pipeline wants to see it.
``recorded`` wraps the runner's event stream and writes one ``pipeline_runs`` row per run: started
once the runner accepted the run (a refused run — paused, busy — is not a run and leaves no row),
its batches and records as they commit, and how it ended. ``RunRecord`` is the one shape both
histories are shown in; ``RunHistory`` is what a history source (this log, Dagster's instance)
provides.

A process killed mid-run cannot write its ending: its row stays ``running`` until it is read, and
reads it as ``interrupted`` once the pipeline's run lock is no longer held by that run.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from psycopg import sql

from sync_platform.pipelines.runner.events import BatchCommitted, LaneStarted, RunEvent, RunFailed
from sync_platform.pipelines.store import PipelineStore
from sync_platform.pipelines.transaction import StoreTransaction
from sync_platform.redaction import redact

logger = logging.getLogger(__name__)

KEPT_RUNS_PER_PIPELINE = 100


class RunOrigin(StrEnum):
    """Who started a run."""

    DAGSTER = "dagster"
    CLI = "cli"
    API = "api"
    CONSOLE = "console"


class RunOutcome(StrEnum):
    """Where a run is: the same words for Dagster runs and recorded ones."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died before it could record how it ended


@dataclass(frozen=True)
class RunRecord:
    """One run of a pipeline, whoever started it. ``url`` links to it (the Dagster UI) when known."""

    id: str
    pipeline_id: str
    origin: RunOrigin
    status: RunOutcome
    lanes: tuple[str, ...] = ()
    started_at: datetime | None = None
    finished_at: datetime | None = None
    batches: int | None = None
    records: int | None = None
    events_applied: int | None = None
    error: str | None = None
    holder: str | None = None
    dagster_run_id: str | None = None
    url: str | None = None

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, (self.finished_at - self.started_at).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline_id": self.pipeline_id,
            "origin": self.origin.value,
            "status": self.status.value,
            "lanes": list(self.lanes),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "batches": self.batches,
            "records": self.records,
            "events_applied": self.events_applied,
            "error": self.error,
            "holder": self.holder,
            "dagster_run_id": self.dagster_run_id,
            "url": self.url,
        }


class RunHistory(Protocol):
    """A source of a pipeline's recent runs, newest first."""

    def recent_runs(self, pipeline_id: str, limit: int) -> list[RunRecord]: ...


@dataclass
class RunTally:
    lanes: list[str] = field(default_factory=list)
    batches: int = 0
    records: int = 0
    events_applied: int = 0
    error: str | None = None


class RunLog:
    """The ``pipeline_runs`` table of ``store``'s app database."""

    def __init__(self, store: PipelineStore) -> None:
        self.store = store
        self.table = store.tables.pipeline_runs

    def start(self, pipeline_id: str, *, origin: RunOrigin, holder: str) -> str:
        run_id = f"run_{secrets.token_hex(8)}"

        def insert(tx: StoreTransaction) -> None:
            tx.connection.execute(
                sql.SQL(
                    "INSERT INTO {} (id, pipeline_id, origin, holder, status) "
                    "VALUES (%s, %s, %s, %s, 'running')"
                ).format(self.table),
                (run_id, pipeline_id, origin.value, holder),
            )
            tx.connection.execute(
                sql.SQL(
                    "DELETE FROM {t} WHERE pipeline_id = %s AND id NOT IN "
                    "(SELECT id FROM {t} WHERE pipeline_id = %s ORDER BY started_at DESC LIMIT %s)"
                ).format(t=self.table),
                (pipeline_id, pipeline_id, KEPT_RUNS_PER_PIPELINE),
            )

        self.store.atomically(insert)
        return run_id

    def update(self, run_id: str, tally: RunTally, status: RunOutcome | None) -> None:
        """Write the run's counts so far, and how it ended once ``status`` is given."""
        ending = sql.SQL(", status = %s, finished_at = now()") if status is not None else sql.SQL("")
        query = (
            sql.SQL(
                "UPDATE {} SET lanes = %s, batches = %s, records = %s, events_applied = %s, error = %s"
            ).format(self.table)
            + ending
            + sql.SQL(" WHERE id = %s")
        )
        values: list[Any] = [tally.lanes, tally.batches, tally.records, tally.events_applied, tally.error]
        if status is not None:
            values.append(status.value)
        values.append(run_id)
        self.store.atomically(lambda tx: tx.connection.execute(query, values))

    def recent_runs(self, pipeline_id: str, limit: int = 20) -> list[RunRecord]:
        """The pipeline's recorded runs, newest first (``RunHistory``)."""
        query = sql.SQL(
            "SELECT r.*, k.holder IS NOT NULL AS holds_lock FROM {runs} r LEFT JOIN {locks} k "
            "ON k.pipeline_id = r.pipeline_id AND k.holder = r.holder "
            "WHERE r.pipeline_id = %s ORDER BY r.started_at DESC, r.id LIMIT %s"
        ).format(runs=self.table, locks=self.store.tables.run_locks)
        rows = self.store.atomically(lambda tx: tx.connection.execute(query, (pipeline_id, limit)).fetchall())
        return [_record(dict(row)) for row in rows]


def _record(row: dict[str, Any]) -> RunRecord:
    status = RunOutcome(row["status"])
    if status is RunOutcome.RUNNING and not row["holds_lock"]:
        status = RunOutcome.INTERRUPTED
    return RunRecord(
        id=row["id"],
        pipeline_id=row["pipeline_id"],
        origin=RunOrigin(row["origin"]),
        status=status,
        lanes=tuple(row["lanes"] or ()),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        batches=row["batches"],
        records=row["records"],
        events_applied=row["events_applied"],
        error=row["error"],
        holder=row["holder"],
    )


def recorded(
    events: Iterator[RunEvent], log: RunLog, pipeline_id: str, *, origin: RunOrigin, holder: str
) -> Iterator[RunEvent]:
    """``events`` (a ``PipelineRunner.run``) passed through, with the run written to ``log``.

    Nothing is written for a run the runner refuses before any work (its refusal propagates from
    the first ``next``). A consumer that closes the stream early (a client that went away, Ctrl-C)
    records ``cancelled``; an exception records ``failed`` and propagates.
    """
    try:
        event: RunEvent | None = next(events)  # no other name keeps it (nor its pipeline) for the run
    except StopIteration:
        return
    run_id = log.start(pipeline_id, origin=origin, holder=holder)
    tally = RunTally()
    outcome = RunOutcome.SUCCEEDED
    try:
        while event is not None:
            _count(event, tally)
            if isinstance(event, RunFailed):
                outcome = RunOutcome.FAILED
            yield event
            if isinstance(event, BatchCommitted):
                _quietly(log.update, run_id, tally, None)  # so a long run shows its progress
            event = next(events, None)
    except GeneratorExit:
        outcome = RunOutcome.CANCELLED
        raise
    except BaseException as error:
        outcome = RunOutcome.CANCELLED if isinstance(error, KeyboardInterrupt) else RunOutcome.FAILED
        tally.error = tally.error or redact(f"{type(error).__name__}: {error}")
        raise
    finally:
        # The ending first: closing ``events`` releases the pipeline's run lock, and a row still
        # ``running`` whose lock is free reads as ``interrupted``.
        _quietly(log.update, run_id, tally, outcome)
        events.close()


def _count(event: RunEvent, tally: RunTally) -> None:
    match event:
        case LaneStarted(lane=lane) if lane.value not in tally.lanes:
            tally.lanes.append(lane.value)
        case BatchCommitted(eof=eof, events_applied=applied):
            tally.batches += 1
            tally.records += eof.request_progress.derived.total_record_count
            tally.events_applied += applied
        case RunFailed(error=error):
            tally.error = error.summary()


def _quietly(write: Any, *args: Any) -> None:
    """Recording a run never fails the run: a lost write is logged and the run goes on."""
    try:
        write(*args)
    except Exception as error:
        logger.warning("could not record a run: %s", redact(str(error)))


def merge_runs(histories: Sequence[list[RunRecord]], limit: int) -> list[RunRecord]:
    """Runs from several histories, newest first (runs not started yet first: they are queued)."""
    runs = [run for history in histories for run in history]

    def newest_first(run: RunRecord) -> tuple[int, float]:
        if run.started_at is None:
            return (0, 0.0)
        return (1, -run.started_at.timestamp())

    return sorted(runs, key=newest_first)[:limit]
