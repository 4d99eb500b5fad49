"""``pipeline_run_failure_sensor``: records a failed run's error on its pipeline.

The failure type decides what happens next: ``auth`` and ``config`` failures park the pipeline in
``error`` (its lanes stop, so a revoked key is not retried forever) until the user resumes it or
edits its config; ``transient`` failures are retried by the lifecycle sensor after a delay. The type
comes from the run's ``sync/failure_type`` tag when the run set one, else from the error message.
"""

from datetime import UTC, datetime

import dagster as dg

from sync_platform.defs.failures import FAILURE_TYPE_TAG, classify_message
from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.tags import PIPELINE_TAG
from sync_platform.pipelines import (
    FailureType,
    PipelineError,
    PipelineNotFoundError,
    PipelineStatus,
    TransitionError,
)

RUN_FAILURE_SENSOR = "pipeline_run_failure_sensor"


def failure_message(context: dg.RunFailureSensorContext) -> str:
    """The most useful failure text: the first failed step's error, else the run's failure event."""
    for event in context.get_step_failure_events():
        data = event.event_specific_data
        error = getattr(data, "error", None)
        if error is not None and getattr(error, "message", None):
            return str(error.message).strip()
    return (context.failure_event.message or "The run failed.").strip()


@dg.run_failure_sensor(
    name=RUN_FAILURE_SENSOR,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records a failed sync run's error on its pipeline (status: error, with failure type).",
)
def pipeline_run_failure_sensor(context: dg.RunFailureSensorContext, pipelines: PipelineResource) -> None:
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    pipeline_id = run.tags.get(PIPELINE_TAG)
    if not pipeline_id:
        return
    message = failure_message(context)
    tagged = run.tags.get(FAILURE_TYPE_TAG)
    failure_type = (
        FailureType(tagged) if tagged in FailureType._value2member_map_ else classify_message(message)
    )
    error = PipelineError(failure_type=failure_type, message=message, occurred_at=datetime.now(UTC))
    try:
        pipelines.store().set_status(pipeline_id, PipelineStatus.ERROR, error)
    except (PipelineNotFoundError, TransitionError) as problem:
        context.log.info(f"Not recording the failure on {pipeline_id}: {problem}")
        return
    context.log.info(f"Pipeline {pipeline_id}: error ({failure_type.value}) recorded from run {run.run_id}")
