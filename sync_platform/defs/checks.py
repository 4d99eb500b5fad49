"""Checkpoint freshness checks: has every ready pipeline committed a batch recently?

The per-stream row-count check runs inside the sync step (it needs the just-finished backfill's
listed count); this one runs on its own schedule, because staleness is precisely what shows when no
sync runs at all. It reads only the app database: the age of each pipeline's newest committed
checkpoint (backfill or live lane).
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg

from sync_platform.defs.family_assets import FamilyAssets
from sync_platform.defs.resources import PipelineResource
from sync_platform.pipelines import CheckpointLane, DesiredStatus, PipelineStatus

CHECKPOINT_FRESHNESS = "checkpoint_freshness"
DEFAULT_MAX_AGE = timedelta(hours=26)  # a daily reconcile commits at least once a day


def build_checkpoint_freshness_checks(
    fa: FamilyAssets, max_age: timedelta = DEFAULT_MAX_AGE
) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            CHECKPOINT_FRESHNESS,
            asset=key,
            description=f"Every ready pipeline syncing this stream committed a checkpoint within {max_age}.",
        )
        for key in fa.keys_for(None)
    ]

    @dg.multi_asset_check(specs=specs, name=f"{fa.family.key_prefix}_checkpoint_freshness", can_subset=True)
    def checkpoint_freshness(
        context: dg.AssetCheckExecutionContext, pipelines: PipelineResource
    ) -> Iterator[dg.AssetCheckResult]:
        store = pipelines.store()
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
            stamps = [store.get_checkpoint(pipeline.id, lane).updated_at for lane in CheckpointLane]
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
                    "oldest_checkpoint_age_hours": round(max(known) / 3600, 2) if known else 0.0,
                },
            )

    return checkpoint_freshness


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
