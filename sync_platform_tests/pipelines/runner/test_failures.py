"""Failures judged by kind: what parks a pipeline, what is retried, and how a failing teardown ends."""

from __future__ import annotations

import pytest

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.errors import FailureKind
from sync_platform.pipelines import (
    MAX_CONSECUTIVE_FAILURES,
    DisplayStatus,
    PipelineStatus,
    PipelineStore,
    lanes,
)
from sync_platform.pipelines.runner import (
    Lane,
    PipelineNotRunnableError,
    PipelineRunner,
    RunFailed,
    RunOptions,
)
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain, rows
from sync_platform_tests.plugins.postgres import PgTestDatabase

WRONG_KEY = "sk_test_" + "51WrongKeyTheEmulatorRefuses000000"


def failures(events: list[object]) -> list[RunFailed]:
    return [event for event in events if isinstance(event, RunFailed)]


def test_a_refused_key_parks_the_pipeline_with_kind_auth_and_stripes_message(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    monkeypatch.setenv("TEST_STRIPE_KEY", WRONG_KEY)

    (failed,) = failures(drain(runner.run(pipeline_id)))

    pipeline = store.get(pipeline_id)
    assert failed.error == pipeline.error
    assert pipeline.error is not None
    assert pipeline.error.kind is FailureKind.AUTH
    assert pipeline.error.parked
    assert "Invalid API Key provided" in pipeline.error.message
    assert WRONG_KEY not in pipeline.error.message
    assert (pipeline.error.lane, pipeline.error.run) == ("backfill", "pytest runner")
    assert pipeline.display_status is DisplayStatus.ERROR
    assert lanes(pipeline).backfill is False  # Dagster launches nothing more for it
    with pytest.raises(PipelineNotRunnableError, match=r"it is parked after a failure: \[auth\]"):
        drain(runner.run(pipeline_id))

    monkeypatch.setenv("TEST_STRIPE_KEY", emulator.secret_key)  # the user fixes the key...
    store.resume(pipeline_id)  # ...and resumes
    drain(runner.run(pipeline_id))
    assert store.get(pipeline_id).display_status is DisplayStatus.READY
    assert store.get(pipeline_id).consecutive_failures == 0


def test_a_persistent_invalid_request_parks_the_pipeline(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    emulator.set_faults(scripted=[ScriptedFailure(path="/v1/invoices", status=400, times=1000)])

    (failed,) = failures(drain(runner.run(pipeline_id)))

    assert failed.error.kind is FailureKind.INVALID_REQUEST
    assert failed.error.stream == "invoice"
    assert failed.error.parked
    assert set(rows(pg, "customer")) == {c["id"] for c in emulator.objects("customer")}  # the others went on
    assert store.get(pipeline_id).status is PipelineStatus.ERROR


def test_transient_failures_are_retried_then_park_after_too_many_in_a_row(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg, max_retries=0)
    emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=503, times=1000)])

    recorded = []
    for _ in range(MAX_CONSECUTIVE_FAILURES):
        (failed,) = failures(drain(runner.run(pipeline_id)))
        recorded.append((failed.error.kind, failed.error.attempts, failed.error.parked))

    assert recorded == [
        (FailureKind.TRANSIENT, n, n == MAX_CONSECUTIVE_FAILURES)
        for n in range(1, MAX_CONSECUTIVE_FAILURES + 1)
    ]
    pipeline = store.get(pipeline_id)
    assert pipeline.error is not None
    assert f"parked after {MAX_CONSECUTIVE_FAILURES} failures in a row" in pipeline.error.summary()
    assert pipeline.error.retry_at is None
    with pytest.raises(PipelineNotRunnableError, match="it is parked"):
        drain(runner.run(pipeline_id))


def test_a_success_between_failures_starts_the_count_again(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg, max_retries=0)
    emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=503, times=1000)])
    drain(runner.run(pipeline_id))
    drain(runner.run(pipeline_id))
    assert store.get(pipeline_id).consecutive_failures == 2

    emulator.set_faults()
    drain(runner.run(pipeline_id))

    pipeline = store.get(pipeline_id)
    assert (pipeline.status, pipeline.error, pipeline.consecutive_failures) == (PipelineStatus.READY, None, 0)


def test_a_teardown_that_keeps_failing_ends_in_teardown_failed_and_can_be_tried_again(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    drain(runner.run(pipeline_id))
    store.delete(pipeline_id)
    monkeypatch.setenv("TEST_WAREHOUSE_URL", "postgresql://nobody@127.0.0.1:1/gone")  # the warehouse is gone

    kinds = [failures(drain(runner.run(pipeline_id, [Lane.TEARDOWN])))[0].error.kind for _ in range(5)]

    assert kinds == [FailureKind.TRANSIENT] * MAX_CONSECUTIVE_FAILURES
    pipeline = store.get(pipeline_id)
    assert pipeline.display_status is DisplayStatus.TEARDOWN_FAILED
    assert pipeline.error is not None
    assert "127.0.0.1" in pipeline.error.message
    assert lanes(pipeline).teardown is False  # no more teardown runs

    monkeypatch.setenv("TEST_WAREHOUSE_URL", pg.url)  # the warehouse is back
    store.delete(pipeline_id)  # deleting again tries the teardown again
    assert lanes(store.get(pipeline_id)).teardown is True
    drain(runner.run(pipeline_id, [Lane.TEARDOWN]))
    assert store.get(pipeline_id).display_status is DisplayStatus.DELETED
    assert rows(pg, "customer") == {}  # the destination schema is gone


def test_an_explicit_lane_can_force_a_parked_pipeline_without_touching_its_status(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    monkeypatch.setenv("TEST_STRIPE_KEY", WRONG_KEY)
    drain(runner.run(pipeline_id))
    monkeypatch.setenv("TEST_STRIPE_KEY", emulator.secret_key)

    drain(runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(force=True)))

    assert set(rows(pg, "customer")) == {c["id"] for c in emulator.objects("customer")}
    assert store.get(pipeline_id).display_status is DisplayStatus.ERROR  # still waits for the user


def test_deleting_a_parked_pipeline_tears_it_down(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    drain(runner.run(pipeline_id))
    monkeypatch.setenv("TEST_STRIPE_KEY", WRONG_KEY)
    drain(runner.run(pipeline_id, [Lane.POLL]))
    assert store.get(pipeline_id).display_status is DisplayStatus.ERROR  # parked: auth
    monkeypatch.setenv("TEST_STRIPE_KEY", emulator.secret_key)

    deleted = store.delete(pipeline_id)

    assert deleted.display_status is DisplayStatus.TEARING_DOWN  # not teardown_failed: it never ran
    assert lanes(deleted).teardown is True
    drain(runner.run(pipeline_id, [Lane.TEARDOWN]))
    assert store.get(pipeline_id).display_status is DisplayStatus.DELETED
    assert rows(pg, "customer") == {}
