"""Runs started outside Dagster are recorded: started once accepted, counted, and how they ended."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync_platform.engine import Engine
from sync_platform.pipelines import PipelineCreate, PipelineStore
from sync_platform.pipelines.run_log import RunLog, RunOrigin, RunOutcome, recorded
from sync_platform.pipelines.runner import (
    BatchCommitted,
    PipelineNotRunnableError,
    PipelineRunner,
    RunEvent,
    RunOptions,
)
from sync_platform.pipelines.states import DesiredStatus


def make(store: PipelineStore, desired: DesiredStatus = DesiredStatus.ACTIVE) -> None:
    store.create(
        PipelineCreate.model_validate(
            {
                "id": "shop",
                "source": {"type": "fixture", "fixture": {"streams": {"customer": 12}, "state_every": 2}},
                "destination": {"type": "null", "null": {}},
                "desired_status": desired.value,
            }
        )
    )


def run(store: PipelineStore, options: RunOptions | None = None) -> Iterator[RunEvent]:
    runner = PipelineRunner(store, Engine(store.configs.registry), holder="test run")
    events = runner.run("shop", None, options or RunOptions(state_limit=2))
    return recorded(events, RunLog(store), "shop", origin=RunOrigin.CLI, holder="test run")


@pytest.mark.usefixtures("every_checkpoint_committed")
def test_a_run_is_recorded_with_its_lanes_batches_and_records(pipeline_store: PipelineStore) -> None:
    make(pipeline_store)
    events = list(run(pipeline_store))

    [record] = RunLog(pipeline_store).recent_runs("shop")
    batches = [e for e in events if isinstance(e, BatchCommitted)]
    assert (record.status, record.origin, record.lanes) == (
        RunOutcome.SUCCEEDED,
        RunOrigin.CLI,
        ("backfill",),
    )
    assert record.batches == len(batches) > 1
    assert record.records == 12
    assert record.finished_at is not None
    assert record.duration_seconds is not None


def test_a_refused_run_leaves_no_record(pipeline_store: PipelineStore) -> None:
    make(pipeline_store, DesiredStatus.PAUSED)
    with pytest.raises(PipelineNotRunnableError):
        list(run(pipeline_store))
    assert RunLog(pipeline_store).recent_runs("shop") == []


def test_a_run_closed_early_is_cancelled_and_one_whose_process_died_is_interrupted(
    pipeline_store: PipelineStore,
) -> None:
    make(pipeline_store)
    events = run(pipeline_store)
    for event in events:
        if isinstance(event, BatchCommitted):
            events.close()  # the consumer went away (a client, Ctrl-C)
            break
    log = RunLog(pipeline_store)
    [cancelled] = log.recent_runs("shop")
    assert (cancelled.status, cancelled.batches) == (RunOutcome.CANCELLED, 1)

    log.start("shop", origin=RunOrigin.API, holder="a process that died")  # never finished, holds no lock
    assert log.recent_runs("shop")[0].status is RunOutcome.INTERRUPTED
