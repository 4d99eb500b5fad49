"""What the instance knows about each pipeline's runs, read once per tick (bounded)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import dagster as dg

from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG

IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
RECENT_RUNS_SCANNED = 2000


@dataclass
class PipelineRuns:
    """A pipeline's in-progress runs and when its latest run failed (for retry backoff)."""

    in_progress: list[str]
    queued: list[str]
    queued_lanes: set[str] = field(default_factory=set)
    last_failure_at: float | None = None
    last_finished_ok: bool = False


def runs_by_pipeline(instance: dg.DagsterInstance) -> Mapping[str, PipelineRuns]:
    """In-progress runs of every pipeline, and each pipeline's latest finished run outcome.

    One query for in-progress runs and one for the most recent runs, whatever the number of
    pipelines, so a tick stays far inside the sensor deadline.
    """
    by_pipeline: dict[str, PipelineRuns] = {}
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS), limit=RECENT_RUNS_SCANNED):
        pipeline_id = record.dagster_run.tags.get(PIPELINE_TAG)
        if pipeline_id:
            runs = by_pipeline.setdefault(pipeline_id, PipelineRuns([], []))
            runs.in_progress.append(record.dagster_run.run_id)
            if record.dagster_run.status in (dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED):
                runs.queued.append(record.dagster_run.run_id)
                runs.queued_lanes.add(record.dagster_run.tags.get(LANE_TAG, ""))
    finished = instance.get_run_records(
        dg.RunsFilter(statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.SUCCESS]),
        limit=RECENT_RUNS_SCANNED,
    )
    seen: set[str] = set()
    for record in finished:  # newest first
        pipeline_id = record.dagster_run.tags.get(PIPELINE_TAG)
        if not pipeline_id or pipeline_id in seen:
            continue
        seen.add(pipeline_id)
        runs = by_pipeline.setdefault(pipeline_id, PipelineRuns([], []))
        if record.dagster_run.status is dg.DagsterRunStatus.FAILURE:
            runs.last_failure_at = record.end_time or record.update_timestamp.timestamp()
        else:
            runs.last_finished_ok = True
    return by_pipeline
