"""``events_poll_sensor``: a poll run per pipeline that reads changes from the Stripe events API.

For pipelines that poll (``poll_events``) instead of (or besides) receiving webhooks. One run per
pipeline per ``interval``; the run key carries the interval number, so a tick repeated within the
same interval launches nothing new, and a pipeline with a run in progress is skipped.
"""

import time
from collections.abc import Sequence

import dagster as dg

from sync_platform.defs.family_assets import FamilyAssets
from sync_platform.defs.jobs import LaunchableJob
from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.sensors.runs import runs_by_pipeline
from sync_platform.defs.tags import Lane
from sync_platform.pipelines import lanes

EVENTS_POLL_SENSOR = "events_poll_sensor"
DEFAULT_POLL_INTERVAL_SECONDS = 60


def build_events_poll_sensor(
    families: Sequence[FamilyAssets],
    jobs: Sequence[LaunchableJob],
    *,
    interval_seconds: int = DEFAULT_POLL_INTERVAL_SECONDS,
) -> dg.SensorDefinition:
    by_destination = {fa.family.destination_type: fa for fa in families}

    @dg.sensor(
        name=EVENTS_POLL_SENSOR,
        minimum_interval_seconds=min(30, interval_seconds),
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=list(jobs),
        description="Launches an events-API poll run for each ready pipeline that polls.",
    )
    def events_poll_sensor(
        context: dg.SensorEvaluationContext, pipelines: PipelineResource
    ) -> dg.SensorResult | dg.SkipReason:
        slot = int(time.time() // interval_seconds)
        busy = runs_by_pipeline(context.instance)
        requests = []
        for pipeline in pipelines.list_pipelines(include_deleted=False):
            fa = by_destination.get(pipeline.destination.type)
            if fa is None or not lanes(pipeline).events_poll:
                continue
            if pipeline.id in busy and busy[pipeline.id].in_progress:
                continue
            requests.append(
                fa.sync_request(
                    pipeline.id, Lane.POLL, trigger=EVENTS_POLL_SENSOR, run_key=f"{pipeline.id}:poll:{slot}"
                )
            )
        if not requests:
            return dg.SkipReason("no pipeline polls events right now")
        return dg.SensorResult(run_requests=requests)

    return events_poll_sensor
