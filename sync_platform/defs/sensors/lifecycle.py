"""``pipeline_lifecycle_sensor``: converges Dagster to what each pipeline's ``desired_status`` asks.

Every tick it reads all pipelines once and, per pipeline:

- adds the pipeline's partition to its family when it appears, and deletes it once torn down;
- writes ``status`` when no run is busy with the pipeline (``paused`` after a pause, the resume
  target after a resume, ``teardown`` after a delete), following ``pipelines.lifecycle``;
- launches the run its lanes call for: setup + backfill for a new (or resumed, or transiently
  failed) pipeline, a catch-up run for events left in the inbox (after a backfill or a resume),
  and teardown for a deleted one — at most one run per pipeline at a time, and after a failure
  only once the recorded error's ``retry_at`` has passed (a parked error launches nothing);
- cancels queued runs of a deleted pipeline (running ones stop at their next batch boundary).

A tick does no Stripe calls: a bounded number of database reads and run-storage queries.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import dagster as dg

from sync_platform.defs.family_assets import EventStreamMapper, FamilyAssets
from sync_platform.defs.jobs import LaunchableJob
from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.sensors.runs import PipelineRuns, runs_by_pipeline
from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG, TRIGGER_TAG, Lane
from sync_platform.defs.teardown import TEARDOWN_JOB
from sync_platform.pipelines import InboxSummary, Pipeline, PipelineStatus, PipelineStore, lanes
from sync_platform.pipelines.runner import converge as converge_status

LIFECYCLE_SENSOR = "pipeline_lifecycle_sensor"
RETRY_DELAY_SECONDS = 60.0
INBOX_SCAN_LIMIT = 5000


@dataclass
class LifecyclePlan:
    """What one tick decided: partitions to add or delete, runs to launch or cancel, statuses to write."""

    add: dict[str, list[str]] = field(default_factory=dict)
    delete: dict[str, list[str]] = field(default_factory=dict)
    run_requests: list[dg.RunRequest] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _run_request(
    fa: FamilyAssets, pipeline: Pipeline, lane: Lane, *, streams: set[str] | None = None
) -> dg.RunRequest:
    return fa.sync_request(pipeline.id, lane, trigger=LIFECYCLE_SENSOR, streams=streams)


def teardown_request(pipeline_id: str) -> dg.RunRequest:
    return dg.RunRequest(
        job_name=TEARDOWN_JOB,
        run_config={"ops": {"teardown_pipeline": {"config": {"pipeline_id": pipeline_id}}}},
        tags={PIPELINE_TAG: pipeline_id, LANE_TAG: Lane.TEARDOWN.value, TRIGGER_TAG: LIFECYCLE_SENSOR},
    )


def plan_pipeline(
    pipeline: Pipeline,
    fa: FamilyAssets,
    *,
    known: bool,
    runs: PipelineRuns,
    pending: InboxSummary | None,
    streams_for_events: EventStreamMapper | None,
    now: float,
    plan: LifecyclePlan,
) -> None:
    """The decisions for one pipeline whose status is already converged (see ``converge``)."""
    partitions = fa.family.partitions_def.name
    if pipeline.torn_down_at is not None:
        if known:
            plan.delete.setdefault(partitions, []).append(pipeline.id)
        return
    if not known:
        plan.add.setdefault(partitions, []).append(pipeline.id)
    current = lanes(pipeline)
    if current.teardown and runs.queued:
        plan.cancel.extend(runs.queued)
    if runs.in_progress:
        return  # one run per pipeline at a time; the next tick looks again
    error = pipeline.error if pipeline.status is PipelineStatus.ERROR else None
    if error is not None and error.retry_at is not None:
        if now < error.retry_at.timestamp():
            plan.notes.append(f"{pipeline.id}: waiting to retry: {error.summary()}")
            return
    elif runs.last_failure_at is not None and now - runs.last_failure_at < RETRY_DELAY_SECONDS:
        plan.notes.append(f"{pipeline.id}: waiting before retrying a failed run")
        return
    if current.teardown:
        plan.run_requests.append(teardown_request(pipeline.id))
    elif current.setup or current.backfill:
        # A pipeline that syncs some streams selects only their assets; the rest would only show
        # as skipped in the run.
        synced = {selection.name for selection in pipeline.streams} if pipeline.streams is not None else None
        plan.run_requests.append(_run_request(fa, pipeline, Lane.BACKFILL, streams=synced))
    elif current.webhook_apply and pending is not None:
        touched = streams_for_events(pending.event_types) if streams_for_events else None
        plan.run_requests.append(_run_request(fa, pipeline, Lane.LIVE, streams=touched))


def converge(store: PipelineStore, pipeline: Pipeline, runs: PipelineRuns) -> Pipeline:
    """Write the status the lifecycle rules ask for, once no run is busy with the pipeline."""
    return pipeline if runs.in_progress else converge_status(store, pipeline)


def lifecycle_tick(
    store: PipelineStore,
    instance: dg.DagsterInstance,
    families: Mapping[str, FamilyAssets],
    streams_for_events: EventStreamMapper | None = None,
    *,
    now: float | None = None,
) -> LifecyclePlan:
    now = time.time() if now is None else now
    plan = LifecyclePlan()
    runs = runs_by_pipeline(instance)
    partitions = {
        fa.family.partitions_def.name: set(instance.get_dynamic_partitions(fa.family.partitions_def.name))
        for fa in families.values()
    }
    pending = {summary.pipeline_id: summary for summary in store.pending_inbox_summary(0, INBOX_SCAN_LIMIT)}
    seen: set[str] = set()
    for pipeline in store.list_pipelines(include_deleted=True, checkpoints=False):
        fa = families.get(pipeline.destination.type)
        if fa is None:
            continue  # a destination without an asset family (a test connector, say)
        seen.add(pipeline.id)
        pipeline_runs = runs.get(pipeline.id) or PipelineRuns([], [])
        pipeline = converge(store, pipeline, pipeline_runs)
        plan_pipeline(
            pipeline,
            fa,
            known=pipeline.id in partitions[fa.family.partitions_def.name],
            runs=pipeline_runs,
            pending=pending.get(pipeline.id),
            streams_for_events=streams_for_events,
            now=now,
            plan=plan,
        )
    for name, keys in partitions.items():  # partitions whose pipeline was purged
        orphans = sorted(keys - seen)
        if orphans:
            plan.delete.setdefault(name, []).extend(orphans)
    return plan


def build_lifecycle_sensor(
    families: Sequence[FamilyAssets],
    jobs: Sequence[LaunchableJob],
    streams_for_events: EventStreamMapper | None = None,
    *,
    minimum_interval_seconds: int = 15,
) -> dg.SensorDefinition:
    """The sensor; ``jobs`` are the families' sync jobs and the teardown job it launches."""
    by_destination = {fa.family.destination_type: fa for fa in families}
    partitions_by_name = {fa.family.partitions_def.name: fa.family.partitions_def for fa in families}

    @dg.sensor(
        name=LIFECYCLE_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=list(jobs),
        description="Adds and removes pipeline partitions, writes pipeline status, and launches "
        "setup/backfill, catch-up and teardown runs as each pipeline's desired_status asks.",
    )
    def pipeline_lifecycle_sensor(
        context: dg.SensorEvaluationContext, pipelines: PipelineResource
    ) -> dg.SensorResult | dg.SkipReason:
        plan = lifecycle_tick(pipelines.store(), context.instance, by_destination, streams_for_events)
        for run_id in plan.cancel:
            context.instance.run_coordinator.cancel_run(run_id)
        for note in plan.notes:
            context.log.info(note)
        requests = [
            *(partitions_by_name[name].build_add_request(keys) for name, keys in plan.add.items()),
            *(partitions_by_name[name].build_delete_request(keys) for name, keys in plan.delete.items()),
        ]
        if not plan.run_requests and not requests:
            return dg.SkipReason("every pipeline is converged")
        return dg.SensorResult(run_requests=plan.run_requests, dynamic_partitions_requests=requests)

    return pipeline_lifecycle_sensor
