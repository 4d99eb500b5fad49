"""``webhook_inbox_sensor``: one live run per pipeline with new verified webhook events.

Its cursor is the last inbox id it has seen. Each tick reads a bounded, index-backed window of
pending rows after the cursor, grouped per pipeline, and requests one run per pipeline whose lanes
apply webhooks now, selecting the stream assets the events touch. The run key carries the largest
inbox id, so repeated ticks never launch the same work twice. Rows of pipelines that are paused
or still backfilling are passed over here and picked up by the lifecycle sensor's catch-up run.
The payloads stay in the database: runs carry only the pipeline id and the max inbox id.
"""

from collections.abc import Mapping, Sequence

import dagster as dg

from sync_platform.defs.family_assets import EventStreamMapper, FamilyAssets
from sync_platform.defs.jobs import LaunchableJob
from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.sensors.runs import PipelineRuns, runs_by_pipeline
from sync_platform.defs.tags import INBOX_MAX_ID_TAG, Lane
from sync_platform.pipelines import PipelineStore, lanes

INBOX_SENSOR = "webhook_inbox_sensor"
SCAN_LIMIT = 5000


def inbox_tick(
    store: PipelineStore,
    cursor: int,
    families: Mapping[str, FamilyAssets],
    streams_for_events: EventStreamMapper | None = None,
    *,
    runs: Mapping[str, PipelineRuns] | None = None,
    scan_limit: int = SCAN_LIMIT,
) -> tuple[list[dg.RunRequest], int, list[str]]:
    """Run requests for the window after ``cursor``, the new cursor, and notes on skipped pipelines.

    A pipeline whose live run is still queued gets no second one: that run claims every pending
    event when it starts, these included, so queued runs never pile up behind a busy pipeline.
    """
    summaries = store.pending_inbox_summary(cursor, scan_limit)
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    for summary in summaries:
        queued = runs.get(summary.pipeline_id) if runs is not None else None
        if queued is not None and Lane.LIVE.value in queued.queued_lanes:
            continue
        pipeline = store.find(summary.pipeline_id)
        fa = families.get(pipeline.destination.type) if pipeline is not None else None
        if pipeline is None or fa is None:
            continue
        if not lanes(pipeline).webhook_apply:
            notes.append(
                f"{pipeline.id}: {summary.count} event(s) wait in the inbox ({pipeline.display_status.value})"
            )
            continue
        touched = streams_for_events(summary.event_types) if streams_for_events else None
        requests.append(
            fa.sync_request(
                pipeline.id,
                Lane.LIVE,
                trigger=INBOX_SENSOR,
                streams=touched,
                run_key=f"{pipeline.id}:live:{summary.max_id}",
                tags={INBOX_MAX_ID_TAG: str(summary.max_id)},
            )
        )
    new_cursor = max((summary.max_id for summary in summaries), default=cursor)
    return requests, new_cursor, notes


def build_inbox_sensor(
    families: Sequence[FamilyAssets],
    jobs: Sequence[LaunchableJob],
    streams_for_events: EventStreamMapper | None = None,
    *,
    minimum_interval_seconds: int = 5,
) -> dg.SensorDefinition:
    by_destination = {fa.family.destination_type: fa for fa in families}

    @dg.sensor(
        name=INBOX_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=list(jobs),
        description="Turns verified webhook events in the inbox into one live run per pipeline.",
    )
    def webhook_inbox_sensor(
        context: dg.SensorEvaluationContext, pipelines: PipelineResource
    ) -> dg.SensorResult | dg.SkipReason:
        cursor = int(context.cursor or 0)
        requests, new_cursor, notes = inbox_tick(
            pipelines.store(),
            cursor,
            by_destination,
            streams_for_events,
            runs=runs_by_pipeline(context.instance),
        )
        for note in notes:
            context.log.info(note)
        if new_cursor == cursor:
            return dg.SkipReason(f"no new inbox rows after id {cursor}")
        return dg.SensorResult(
            run_requests=requests,
            cursor=str(new_cursor),
            dynamic_partitions_requests=_missing_partitions(context.instance, families, requests),
        )

    return webhook_inbox_sensor


def _missing_partitions(
    instance: dg.DagsterInstance, families: Sequence[FamilyAssets], requests: list[dg.RunRequest]
) -> list[dg.AddDynamicPartitionsRequest]:
    """Partitions a request needs but the instance lacks (a partition removed by hand, say): added in
    the same tick, so one missing partition never fails the whole tick for every pipeline."""
    adds = []
    for fa in families:
        partitions = fa.family.partitions_def
        wanted = {r.partition_key for r in requests if r.job_name == fa.job_name and r.partition_key}
        missing = sorted(wanted - set(instance.get_dynamic_partitions(partitions.name))) if wanted else []
        if missing:
            adds.append(partitions.build_add_request(missing))
    return adds
