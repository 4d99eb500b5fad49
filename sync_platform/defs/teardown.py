"""The teardown job: the runner's teardown lane for a deleted pipeline, as a Dagster op.

The lane runs the connectors' ``teardown`` (the Stripe source deletes the webhook endpoint it
created; the destination drops the tables or tabs it created) and records the pipeline as torn
down, so deleting a pipeline leaks nothing (reference bug #9). A teardown that fails is recorded
by the runner and retried by the lifecycle sensor with backoff; after a bounded number of failures
in a row the pipeline shows ``teardown_failed`` with the reason, and ``pipelines delete --force``
forgets it.
"""

from contextlib import closing

import dagster as dg
from pydantic import Field

from sync_platform.defs.resources import PipelineResource, SyncEngineResource
from sync_platform.defs.sync_run import dagster_holder
from sync_platform.defs.tags import FAILURE_KIND_TAG, LANE_TAG, OUTCOME_TAG, PIPELINE_TAG, Lane, Outcome
from sync_platform.pipelines import PipelineBusyError
from sync_platform.pipelines.runner import (
    EngineMessage,
    LaneFinished,
    PipelineNotRunnableError,
    PipelineRunner,
    RunEvent,
    RunFailed,
    StatusChanged,
)
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
    pipeline_id = config.pipeline_id
    context.instance.add_run_tags(context.run_id, {PIPELINE_TAG: pipeline_id, LANE_TAG: Lane.TEARDOWN.value})
    runner = PipelineRunner(pipelines.store(), sync_engine.engine(), holder=dagster_holder(context.run_id))
    try:
        events = runner.run(pipeline_id, [Lane.TEARDOWN])
        with closing(events):
            for event in events:
                _present(context, pipeline_id, event)
    except (PipelineNotRunnableError, PipelineBusyError) as refusal:
        context.instance.add_run_tags(context.run_id, {OUTCOME_TAG: Outcome.REFUSED.value})
        raise dg.Failure(str(refusal), allow_retries=False) from None


def _present(context: dg.OpExecutionContext, pipeline_id: str, event: RunEvent) -> None:
    match event:
        case EngineMessage(message=LogMessage() as message):
            context.log.info(f"{message.emitted_by}: {message.log.message}")
        case StatusChanged(before=before, after=after):
            context.log.info(f"Pipeline {pipeline_id}: {before.value} -> {after.value}")
        case LaneFinished(reason=reason):
            context.log.info(f"Pipeline {pipeline_id}: {reason}")
        case RunFailed(error=error):
            context.instance.add_run_tags(
                context.run_id,
                {FAILURE_KIND_TAG: error.kind.value, OUTCOME_TAG: Outcome.FAILURE_RECORDED.value},
            )
            raise dg.Failure(
                f"Teardown of pipeline {pipeline_id} failed: {error.summary()}", allow_retries=False
            )


@dg.job(
    name=TEARDOWN_JOB, description="Tear down a deleted pipeline's webhook endpoint and destination objects."
)
def pipeline_teardown_job() -> None:
    teardown_pipeline()
