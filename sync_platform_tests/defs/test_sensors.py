"""Sensors and schedules, evaluated as the daemon does, against the real store and instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test  # no public way to seed a run's status

from sync_platform.defs.sensors.inbox import INBOX_SENSOR
from sync_platform.defs.sensors.lifecycle import LIFECYCLE_SENSOR
from sync_platform.defs.sensors.run_failures import RUN_FAILURE_SENSOR
from sync_platform.defs.tags import INBOX_MAX_ID_TAG, LANE_TAG, OUTCOME_TAG, PIPELINE_TAG, Lane
from sync_platform.errors import FailureKind
from sync_platform.pipelines import CheckpointLane, PipelineError, PipelineStatus
from sync_platform_tests.defs.conftest import FIXTURE_FAMILY, DagsterHarness


def lanes_of(data: dg.SensorExecutionData | dg.ScheduleExecutionData) -> list[tuple[str | None, str | None]]:
    return [(r.partition_key, r.tags.get(LANE_TAG)) for r in data.run_requests or []]


def event_row(
    harness: DagsterHarness, pipeline_id: str, n: int, event_type: str = "customer.updated"
) -> None:
    payload = {
        "type": "record",
        "record": {
            "stream": "customer",
            "data": {
                "id": f"customer_{n:09d}",
                "_updated_at": 2_000_000_000 + n,
                "_account_id": "acct_fixture",
            },
            "emitted_at": "2026-01-01T00:00:00Z",
        },
    }
    assert harness.store.insert_inbox_event(pipeline_id, f"evt_{n}", event_type, payload)


def make_ready(harness: DagsterHarness, pipeline_id: str) -> None:
    harness.store.set_status(pipeline_id, PipelineStatus.BACKFILL)
    harness.store.set_status(pipeline_id, PipelineStatus.READY)


# --- lifecycle -------------------------------------------------------------------------------------


def test_a_new_pipeline_gets_its_partition_and_a_backfill_run_in_one_tick(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline(add_partition=False)
    data = harness.tick(LIFECYCLE_SENSOR)
    assert [r.partition_keys for r in data.dynamic_partitions_requests] == [[pid]]
    assert lanes_of(data) == [(pid, "backfill")]
    assert data.run_requests[0].tags[PIPELINE_TAG] == pid


def test_a_pipeline_with_a_run_in_progress_gets_no_second_run(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline()
    create_run_for_test(
        harness.instance,
        job_name=FIXTURE_FAMILY.job_name,
        status=dg.DagsterRunStatus.STARTED,
        tags={PIPELINE_TAG: pid},
    )
    assert harness.tick(LIFECYCLE_SENSOR).run_requests == []


def test_pausing_writes_paused_and_launches_nothing(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline()
    make_ready(harness, pid)
    harness.store.pause(pid)
    data = harness.tick(LIFECYCLE_SENSOR)
    assert data.run_requests == []
    assert harness.store.get(pid).status is PipelineStatus.PAUSED


def test_resuming_returns_to_ready_and_catches_up_on_events_kept_while_paused(
    harness: DagsterHarness,
) -> None:
    pid = harness.create_pipeline()
    make_ready(harness, pid)
    harness.store.pause(pid)
    harness.tick(LIFECYCLE_SENSOR)
    event_row(harness, pid, 1)
    inbox = harness.tick(INBOX_SENSOR)
    assert inbox.run_requests == []  # paused: stored, not applied
    harness.store.resume(pid)
    data = harness.tick(LIFECYCLE_SENSOR)
    assert harness.store.get(pid).status is PipelineStatus.READY
    assert lanes_of(data) == [(pid, "live")]


def test_a_live_run_that_finds_its_pipeline_paused_succeeds_and_leaves_the_events_for_the_resume(
    harness: DagsterHarness,
) -> None:
    pid = harness.create_pipeline()
    make_ready(harness, pid)
    event_row(harness, pid, 1)
    (request,) = harness.tick(INBOX_SENSOR).run_requests
    harness.store.pause(pid)  # while the run waits in the queue

    result = harness.materialize(pid, tags=dict(request.tags))

    assert result.success
    assert result.get_asset_materialization_events() == []
    assert harness.store.count_pending_inbox(pid) == 1


def test_a_deleted_pipeline_is_torn_down_then_loses_its_partition(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline()
    make_ready(harness, pid)
    harness.store.delete(pid)
    data = harness.tick(LIFECYCLE_SENSOR)
    assert harness.store.get(pid).status is PipelineStatus.TEARDOWN
    (request,) = data.run_requests
    assert request.job_name == "pipeline_teardown_job"
    job = harness.definitions.resolve_job_def("pipeline_teardown_job")
    result = job.execute_in_process(
        run_config=request.run_config,
        instance=harness.instance,
        resources=harness.resources,
        tags=request.tags,
    )
    assert result.success
    assert harness.store.get(pid).torn_down_at is not None
    harness.apply_partition_requests(harness.tick(LIFECYCLE_SENSOR))
    assert pid not in harness.partitions()


def test_a_parked_auth_error_launches_nothing_until_the_user_resumes(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline()
    error = PipelineError(
        kind=FailureKind.AUTH, message="Invalid API Key provided", occurred_at=datetime.now(UTC)
    )
    harness.store.set_status(pid, PipelineStatus.ERROR, error)
    assert harness.tick(LIFECYCLE_SENSOR).run_requests == []
    harness.store.resume(pid)
    assert lanes_of(harness.tick(LIFECYCLE_SENSOR)) == [(pid, "backfill")]


# --- inbox -----------------------------------------------------------------------------------------


def test_the_inbox_sensor_requests_one_live_run_per_ready_pipeline_keyed_by_max_inbox_id(
    harness: DagsterHarness,
) -> None:
    ready = harness.create_pipeline("pipe_ready")
    make_ready(harness, ready)
    backfilling = harness.create_pipeline("pipe_backfilling")
    harness.store.set_status(backfilling, PipelineStatus.BACKFILL)
    for n in range(3):
        event_row(harness, ready, n)
    event_row(harness, backfilling, 99)
    data = harness.tick(INBOX_SENSOR)
    (request,) = data.run_requests
    assert request.partition_key == ready
    assert request.run_key == f"{ready}:live:{request.tags[INBOX_MAX_ID_TAG]}"
    assert int(data.cursor) == int(request.tags[INBOX_MAX_ID_TAG]) + 1  # passed the backfilling row too
    assert harness.tick(INBOX_SENSOR, cursor=data.cursor).run_requests == []


def test_a_live_run_applies_the_events_and_marks_them_processed_with_the_checkpoint(
    harness: DagsterHarness,
) -> None:
    pid = harness.create_pipeline()
    make_ready(harness, pid)
    for n in range(4):
        event_row(harness, pid, n)
    (request,) = harness.tick(INBOX_SENSOR).run_requests
    result = harness.materialize(pid, tags=dict(request.tags))
    assert result.success
    assert harness.store.count_pending_inbox(pid) == 0
    customer = next(
        e for e in result.get_asset_materialization_events() if e.asset_key.path[-1] == "customer"
    )
    assert customer.materialization.metadata["sync/lane"].value == "live"
    assert harness.store.get_checkpoint(pid, lane=CheckpointLane.LIVE).version >= 1


# --- failures and schedules ------------------------------------------------------------------------


def run_failure_sensor(harness: DagsterHarness, result: dg.ExecuteInProcessResult) -> None:
    """Evaluate the run-failure sensor on a failed run, as the daemon would."""
    run = harness.instance.get_run_by_id(result.run_id)
    with dg.build_run_status_sensor_context(
        sensor_name=RUN_FAILURE_SENSOR,
        dagster_event=result.get_run_failure_event(),
        dagster_instance=harness.instance,
        dagster_run=run,
        resources=harness.resources,
    ) as context:
        harness.sensor(RUN_FAILURE_SENSOR)(context.for_run_failure())


def test_a_failed_run_records_its_root_cause_on_its_pipeline_once(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline(fail_after=5)
    result = harness.materialize(pid, tags={PIPELINE_TAG: pid, LANE_TAG: "backfill"})
    assert not result.success
    failed = harness.store.get(pid)
    assert failed.status is PipelineStatus.ERROR
    assert failed.error is not None
    assert failed.error.kind is FailureKind.INTERNAL  # an exception no connector classified
    assert failed.error.message.startswith("FixtureSourceFailure: fixture source: simulated failure")
    assert "DagsterExecutionStepExecutionError" not in failed.error.message
    assert (failed.error.attempts, failed.error.lane) == (1, "backfill")
    assert result.run_id in (failed.error.run or "")
    run_failure_sensor(harness, result)  # the run recorded it already: not counted twice
    assert harness.store.get(pid).error == failed.error


def test_a_run_that_died_before_recording_is_recorded_by_the_failure_sensor(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline(fail_after=5)
    result = harness.materialize(pid, tags={PIPELINE_TAG: pid, LANE_TAG: "backfill"})
    harness.store.record_success(pid)  # as if the run's own record never happened (a killed process)
    harness.store.set_status(pid, PipelineStatus.BACKFILL)
    harness.instance.add_run_tags(result.run_id, {OUTCOME_TAG: ""})
    run_failure_sensor(harness, result)
    pipeline = harness.store.get(pid)
    assert pipeline.status is PipelineStatus.ERROR
    assert pipeline.error is not None
    assert pipeline.error.kind is FailureKind.INTERNAL
    assert "simulated failure after 5 records" in pipeline.error.message  # the cause, not the wrapper
    assert "DagsterExecutionStepExecutionError" not in pipeline.error.message


@pytest.mark.parametrize("ready", [True, False])
def test_the_reconcile_schedule_targets_ready_active_pipelines(harness: DagsterHarness, ready: bool) -> None:
    pid = harness.create_pipeline()
    if ready:
        make_ready(harness, pid)
    schedule = harness.definitions.resolve_schedule_def(f"{FIXTURE_FAMILY.key_prefix}_reconcile_schedule")
    with dg.build_schedule_context(
        instance=harness.instance,
        scheduled_execution_time=datetime(2026, 3, 1, 3, tzinfo=UTC),
        resources=harness.resources,
        repository_def=harness.definitions.get_repository_def(),
    ) as context:
        data = schedule.evaluate_tick(context)
    assert lanes_of(data) == ([(pid, "reconcile")] if ready else [])


def test_checkpoint_freshness_is_green_for_a_quiet_healthy_pipeline_and_red_for_a_stuck_one(
    harness: DagsterHarness,
) -> None:
    """The heartbeat is a committed checkpoint or a run that succeeded: a quiet pipeline commits no
    checkpoint for days (no events; reconcile replays from a throwaway state), yet its daily
    reconcile run succeeds; a stuck one has neither."""
    pid = harness.create_pipeline()
    backfill = harness.materialize(pid, streams=["customer", "invoice"])
    assert backfill.success  # ready, checkpoint committed now
    job = harness.definitions.resolve_job_def("checkpoint_freshness_job")

    def evaluations() -> dict[str, bool]:
        result = job.execute_in_process(instance=harness.instance, resources=harness.resources)
        return {e.asset_key.path[-1]: e.passed for e in result.get_asset_check_evaluations()}

    assert evaluations() == {"customer": True, "invoice": True}

    # 30 hours on: the checkpoints are old and no run of the pipeline has succeeded since.
    with harness.store.transaction() as transaction:
        stale = "UPDATE {}.checkpoints SET updated_at = now() - interval '30 hours'"
        transaction.connection.execute(stale.format(f'"{harness.store.schema}"'))
    harness.instance.delete_run(backfill.run_id)
    failed = harness.materialize(pid, tags={PIPELINE_TAG: pid, LANE_TAG: "no_such_lane"})
    assert not failed.success  # a failed run is no heartbeat
    assert evaluations() == {"customer": False, "invoice": False}

    reconcile = harness.materialize(pid, tags={LANE_TAG: Lane.RECONCILE.value})
    assert reconcile.success
    stamps = [harness.store.get_checkpoint(pid, lane).updated_at for lane in CheckpointLane]
    assert all(s is None or s < datetime.now(UTC) - timedelta(hours=29) for s in stamps)  # nothing committed
    assert evaluations() == {"customer": True, "invoice": True}


def test_a_live_batch_with_a_stream_error_leaves_its_events_pending(harness: DagsterHarness) -> None:
    """Marking events processed when a stream did not commit them would lose them for good."""
    pid = harness.create_pipeline()
    make_ready(harness, pid)
    event_row(harness, pid, 1)
    failure = {
        "type": "stream_status",
        "stream_status": {"stream": "customer", "status": "error", "error": "boom"},
    }
    assert harness.store.insert_inbox_event(pid, "evt_failure", "customer.updated", failure)
    (request,) = harness.tick(INBOX_SENSOR).run_requests
    result = harness.materialize(pid, tags=dict(request.tags))
    assert not result.success
    assert harness.store.count_pending_inbox(pid) == 2
    assert harness.store.get_checkpoint(pid, lane=CheckpointLane.LIVE).version == 0
