"""Reconcile schedules: a daily replay of recent events per ready pipeline, to heal drift.

Webhooks can be missed (an endpoint down for longer than Stripe retries, a paused receiver), so
once a day (by default at 03:00 UTC; set ``SYNC_PLATFORM_RECONCILE_CRON``) every ready, active
pipeline replays the last days of events into its destination. Newer-wins upserts make the replay
harmless for rows that are already current. One schedule per destination family, because a run
targets one family's partitioned job.
"""

from collections.abc import Sequence

import dagster as dg

from sync_platform.defs.family_assets import FamilyAssets
from sync_platform.defs.jobs import AssetJob
from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.tags import Lane
from sync_platform.pipelines import lanes

DEFAULT_RECONCILE_CRON = "0 3 * * *"


def reconcile_schedule_name(fa: FamilyAssets) -> str:
    return (
        "reconcile_schedule"
        if fa.family.key_prefix == "stripe"
        else f"{fa.family.key_prefix}_reconcile_schedule"
    )


def build_reconcile_schedule(
    fa: FamilyAssets, job: AssetJob, cron: str = DEFAULT_RECONCILE_CRON
) -> dg.ScheduleDefinition:
    name = reconcile_schedule_name(fa)

    @dg.schedule(
        name=name,
        cron_schedule=cron,
        execution_timezone="UTC",
        job=job,
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Replays recent events into every ready {fa.family.destination_type} pipeline, daily.",
    )
    def reconcile(
        context: dg.ScheduleEvaluationContext, pipelines: PipelineResource
    ) -> Sequence[dg.RunRequest]:
        when = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else "now"
        return [
            fa.sync_request(
                pipeline.id, Lane.RECONCILE, trigger=name, run_key=f"{pipeline.id}:reconcile:{when}"
            )
            for pipeline in pipelines.list_pipelines(include_deleted=False)
            if pipeline.destination.type == fa.family.destination_type and lanes(pipeline).reconcile
        ]

    return reconcile
