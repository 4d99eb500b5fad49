"""Checkpoint freshness checks: has every ready pipeline shown a sign of health recently?

The per-stream row-count check runs inside backfill runs (it needs the just-finished backfill's
listed count); this one runs on its own schedule, because staleness is precisely what shows when no
sync runs at all.

A pipeline's heartbeat is the newest of: a committed checkpoint (backfill or live lane) and the end
of a run of it that succeeded (a Dagster run tagged ``pipeline/id``, or a CLI/API run in the run
log). A quiet, healthy pipeline commits no checkpoint (no events, and the reconcile lane replays from
a throwaway state) but its daily reconcile run succeeds, so it stays green; a stuck one (every run
failing or none launched: a stopped schedule, a dead daemon) has no heartbeat within ``max_age``
and turns red.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg

from sync_platform.defs.family_assets import FamilyAssets
from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.tags import PIPELINE_TAG
from sync_platform.pipelines import DesiredStatus, PipelineStatus
from sync_platform.pipelines.run_log import RunLog, RunOutcome

CHECKPOINT_FRESHNESS = "checkpoint_freshness"
DEFAULT_MAX_AGE = timedelta(hours=26)  # a daily reconcile run succeeds at least once a day


def build_checkpoint_freshness_checks(
    fa: FamilyAssets, max_age: timedelta = DEFAULT_MAX_AGE
) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            CHECKPOINT_FRESHNESS,
            asset=key,
            description=f"Every ready pipeline syncing this stream committed a checkpoint or finished a "
            f"run successfully within {max_age}.",
        )
        for key in fa.keys_for(None)
    ]

    @dg.multi_asset_check(specs=specs, name=f"{fa.family.key_prefix}_checkpoint_freshness", can_subset=True)
    def checkpoint_freshness(
        context: dg.AssetCheckExecutionContext, pipelines: PipelineResource
    ) -> Iterator[dg.AssetCheckResult]:
        store = pipelines.store()
        run_log = RunLog(store)
        now = datetime.now(UTC)
        ages: dict[str, float | None] = {}
        syncs: dict[str, set[str] | None] = {}
        for pipeline in pipelines.list_pipelines(include_deleted=False):
            if pipeline.destination.type != fa.family.destination_type:
                continue
            if (
                pipeline.desired_status is not DesiredStatus.ACTIVE
                or pipeline.status is not PipelineStatus.READY
            ):
                continue
            stamps = list(store.checkpoints_updated_at(pipeline.id).values())
            stamps += [last_success(context.instance, run_log, pipeline.id)]
            newest = max((stamp for stamp in stamps if stamp is not None), default=None)
            ages[pipeline.id] = (now - newest).total_seconds() if newest else None
            syncs[pipeline.id] = {s.name for s in pipeline.streams} if pipeline.streams is not None else None
        for check_key in context.selected_asset_check_keys:
            stream = check_key.asset_key.path[-1]
            relevant = {pid: age for pid, age in ages.items() if syncs[pid] is None or stream in syncs[pid]}
            stale = sorted(
                pid for pid, age in relevant.items() if age is None or age > max_age.total_seconds()
            )
            known = [age for age in relevant.values() if age is not None]
            yield dg.AssetCheckResult(
                asset_key=check_key.asset_key,
                check_name=CHECKPOINT_FRESHNESS,
                passed=not stale,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "ready_pipelines": len(relevant),
                    "stale_pipelines": dg.MetadataValue.json(stale),
                    "oldest_heartbeat_age_hours": round(max(known) / 3600, 2) if known else 0.0,
                },
            )

    return checkpoint_freshness


def last_success(instance: dg.DagsterInstance, run_log: RunLog, pipeline_id: str) -> datetime | None:
    """When the pipeline's newest successful run ended: in Dagster, or from the CLI or the API."""
    records = instance.get_run_records(
        dg.RunsFilter(tags={PIPELINE_TAG: pipeline_id}, statuses=[dg.DagsterRunStatus.SUCCESS]), limit=1
    )
    ends = [datetime.fromtimestamp(r.end_time, UTC) for r in records if r.end_time is not None]
    ends += [
        run.finished_at
        for run in run_log.recent_runs(pipeline_id, limit=10)
        if run.status is RunOutcome.SUCCEEDED and run.finished_at is not None
    ]
    return max(ends, default=None)


def checkpoint_freshness_schedule(checks: list[dg.AssetChecksDefinition]) -> dg.ScheduleDefinition:
    """Evaluates the freshness checks every hour."""
    job = dg.define_asset_job(
        "checkpoint_freshness_job",
        selection=dg.AssetSelection.checks(*checks),
        description="Evaluate checkpoint freshness for every stream asset.",
    )
    return dg.ScheduleDefinition(
        name="checkpoint_freshness_schedule",
        job=job,
        cron_schedule="17 * * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
