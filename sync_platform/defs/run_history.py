"""A pipeline's Dagster runs, read from the Dagster instance, for the HTTP service's run history.

The service shows a pipeline's recent runs (``GET /pipelines/{id}/runs``, the console's page) but
must not import Dagster itself (only ``defs`` and the CLI do), so this reader lives here and the
``serve`` command hands it to the service as a ``pipelines.run_log.RunHistory``. Runs are found by
their ``pipeline/id`` tag; their lane, batch and record counts come from the tags the sync run
keeps up to date (``sync/lane``, ``sync/batches``, ``sync/records``), so no event log is read.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime

import dagster as dg

from sync_platform.defs.tags import BATCHES_TAG, FAILURE_KIND_TAG, LANE_TAG, PIPELINE_TAG, RECORDS_TAG
from sync_platform.pipelines.run_log import RunOrigin, RunOutcome, RunRecord

_OUTCOMES = {
    dg.DagsterRunStatus.QUEUED: RunOutcome.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED: RunOutcome.QUEUED,
    dg.DagsterRunStatus.MANAGED: RunOutcome.QUEUED,
    dg.DagsterRunStatus.STARTING: RunOutcome.QUEUED,
    dg.DagsterRunStatus.STARTED: RunOutcome.RUNNING,
    dg.DagsterRunStatus.SUSPENDED: RunOutcome.RUNNING,
    dg.DagsterRunStatus.SUCCESS: RunOutcome.SUCCEEDED,
    dg.DagsterRunStatus.FAILURE: RunOutcome.FAILED,
    dg.DagsterRunStatus.CANCELING: RunOutcome.CANCELLED,
    dg.DagsterRunStatus.CANCELED: RunOutcome.CANCELLED,
}


def _moment(timestamp: float | None) -> datetime | None:
    return None if timestamp is None else datetime.fromtimestamp(timestamp, UTC)


def _count(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


class DagsterRunHistory:
    """The runs of the Dagster instance ``DAGSTER_HOME`` points at (opened on first use), each
    linked to ``dagster_url`` (the Dagster UI) when given."""

    def __init__(
        self,
        *,
        dagster_url: str | None = None,
        instance: Callable[[], dg.DagsterInstance] = dg.DagsterInstance.get,
    ) -> None:
        self.dagster_url = dagster_url.rstrip("/") if dagster_url else None
        self._open = instance
        self._instance: dg.DagsterInstance | None = None
        self._lock = threading.Lock()

    def instance(self) -> dg.DagsterInstance:
        with self._lock:
            if self._instance is None:
                self._instance = self._open()
            return self._instance

    def close(self) -> None:
        with self._lock:
            if self._instance is not None:
                self._instance.dispose()
                self._instance = None

    def recent_runs(self, pipeline_id: str, limit: int) -> list[RunRecord]:
        records = self.instance().get_run_records(
            filters=dg.RunsFilter(tags={PIPELINE_TAG: pipeline_id}), limit=limit
        )
        return [self._record(pipeline_id, record) for record in records]

    def _record(self, pipeline_id: str, record: dg.RunRecord) -> RunRecord:
        run = record.dagster_run
        tags = run.tags
        lane = tags.get(LANE_TAG)
        kind = tags.get(FAILURE_KIND_TAG)
        return RunRecord(
            id=run.run_id,
            pipeline_id=pipeline_id,
            origin=RunOrigin.DAGSTER,
            status=_OUTCOMES.get(run.status, RunOutcome.RUNNING),
            lanes=(lane,) if lane else (),
            started_at=_moment(record.start_time),
            finished_at=_moment(record.end_time),
            batches=_count(tags.get(BATCHES_TAG)),
            records=_count(tags.get(RECORDS_TAG)),
            error=f"{kind} failure: see the run in Dagster" if kind else None,
            holder=f"Dagster run {run.run_id}",
            dagster_run_id=run.run_id,
            url=f"{self.dagster_url}/runs/{run.run_id}" if self.dagster_url else None,
        )
