"""``pipeline_run_failure_sensor``: records the failure of a run that died before its runner could.

A lane that fails records its own failure on the pipeline (the pipeline runner: kind, root cause,
parked or retried), and tags the run ``sync/outcome=failure_recorded``; a run refused because the
pipeline could not run (paused, deleted, parked, busy) is tagged ``refused`` and is no failure of
the pipeline. Every other failed run of a pipeline (its process was killed, its step crashed
outside the runner) is recorded here as an ``internal`` failure with the innermost error of its
failed step, so it is retried a bounded number of times and then parked, like any other.
"""

import dagster as dg

from sync_platform.defs.resources import PipelineResource
from sync_platform.defs.sync_run import dagster_holder
from sync_platform.defs.tags import LANE_TAG, OUTCOME_TAG, PIPELINE_TAG
from sync_platform.errors import FailureKind
from sync_platform.pipelines import PipelineNotFoundError, TransitionError

RUN_FAILURE_SENSOR = "pipeline_run_failure_sensor"


def root_cause(context: dg.RunFailureSensorContext) -> str:
    """The innermost error of the first failed step (not Dagster's wrapper), else the run's event."""
    for event in context.get_step_failure_events():
        error = getattr(event.event_specific_data, "error", None)
        while error is not None and getattr(error, "cause", None) is not None:
            error = error.cause
        if error is not None and getattr(error, "message", None):
            return str(error.message).strip()
    return (context.failure_event.message or "The run failed.").strip()


@dg.run_failure_sensor(
    name=RUN_FAILURE_SENSOR,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Records the failure of a pipeline's run that ended before it could record it itself.",
)
def pipeline_run_failure_sensor(context: dg.RunFailureSensorContext, pipelines: PipelineResource) -> None:
    run = context.instance.get_run_by_id(context.dagster_run.run_id) or context.dagster_run
    pipeline_id = run.tags.get(PIPELINE_TAG)
    if not pipeline_id or run.tags.get(OUTCOME_TAG):
        return  # not a pipeline's run, or its failure is recorded (or was no failure of the pipeline)
    message = root_cause(context)
    try:
        pipeline = pipelines.store().record_failure(
            pipeline_id,
            kind=FailureKind.INTERNAL,
            message=message,
            lane=run.tags.get(LANE_TAG),
            run=dagster_holder(run.run_id),
        )
    except (PipelineNotFoundError, TransitionError) as problem:
        context.log.info(f"Not recording the failure on {pipeline_id}: {problem}")
        return
    summary = pipeline.error.summary() if pipeline.error else message
    context.log.info(f"Pipeline {pipeline_id}: recorded from run {run.run_id}: {summary}")
