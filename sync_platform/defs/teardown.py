"""The teardown job: removes what a deleted pipeline provisioned, then records it as torn down.

It runs the connectors' ``teardown`` (the Stripe source deletes the webhook endpoint it created;
the destination drops the tables or tabs it created), so deleting a pipeline leaks nothing
(reference bug #9). A failed teardown leaves the pipeline in ``error``; the lifecycle sensor
retries it, since a deleted pipeline's only lane is teardown.
"""

import dagster as dg
from pydantic import Field

from sync_platform.defs.failures import FAILURE_TYPE_TAG, classify_error
from sync_platform.defs.resources import PipelineResource, SyncEngineResource
from sync_platform.defs.tags import LANE_TAG, PIPELINE_TAG, Lane
from sync_platform.engine import blocking
from sync_platform.pipelines import DesiredStatus, PipelineStatus
from sync_platform.protocol import LogMessage

TEARDOWN_JOB = "pipeline_teardown_job"


class TeardownConfig(dg.Config):
    pipeline_id: str = Field(description="The deleted pipeline to tear down.")


@dg.op(tags={LANE_TAG: Lane.TEARDOWN.value})
def teardown_pipeline(
    context: dg.OpExecutionContext,
    config: TeardownConfig,
    pipelines: PipelineResource,
    sync_engine: SyncEngineResource,
) -> None:
    store = pipelines.store()
    pipeline = store.get(config.pipeline_id)
    context.instance.add_run_tags(context.run_id, {PIPELINE_TAG: pipeline.id, LANE_TAG: Lane.TEARDOWN.value})
    if pipeline.desired_status is not DesiredStatus.DELETED:
        raise dg.Failure(
            f"Pipeline {pipeline.id!r} is {pipeline.desired_status.value}, not deleted: not tearing it down.",
            allow_retries=False,
        )
    if pipeline.torn_down_at is not None:
        context.log.info(f"Pipeline {pipeline.id} is already torn down.")
        return
    store.set_status(pipeline.id, PipelineStatus.TEARDOWN)
    resolved = store.resolve_secrets(pipeline)
    try:
        for message in blocking.iterate(lambda: sync_engine.engine().teardown(resolved)):
            if isinstance(message, LogMessage):
                context.log.info(f"{message.emitted_by}: {message.log.message}")
    except Exception as error:
        context.instance.add_run_tags(context.run_id, {FAILURE_TYPE_TAG: classify_error(error).value})
        raise
    store.mark_torn_down(pipeline.id)
    context.log.info(f"Pipeline {pipeline.id} is torn down.")


@dg.job(
    name=TEARDOWN_JOB, description="Tear down a deleted pipeline's webhook endpoint and destination objects."
)
def pipeline_teardown_job() -> None:
    teardown_pipeline()
