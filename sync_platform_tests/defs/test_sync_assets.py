"""Materializing a pipeline partition: batches, per-batch checkpoints, observations, subsets, resume."""

from __future__ import annotations

import dagster as dg
import pytest

from sync_platform.pipelines import CheckpointLane, PipelineStatus
from sync_platform_tests.defs.conftest import FIXTURE_FAMILY, DagsterHarness


def key(stream: str) -> dg.AssetKey:
    return dg.AssetKey([FIXTURE_FAMILY.key_prefix, stream])


@pytest.mark.usefixtures("every_checkpoint_committed")
def test_materializing_a_partition_backfills_every_stream_in_checkpointed_batches(
    harness: DagsterHarness,
) -> None:
    pid = harness.create_pipeline()
    result = harness.materialize(pid, state_limit=5)
    assert result.success
    materialized = {event.asset_key: event for event in result.get_asset_materialization_events()}
    assert set(materialized) == {key("customer"), key("invoice")}
    customer = materialized[key("customer")].materialization.metadata
    assert customer["sync/records_read"].value == 250
    assert customer["sync/pipeline_id"].value == pid
    pipeline = harness.store.get(pid)
    assert pipeline.status is PipelineStatus.READY
    checkpoint = harness.store.get_checkpoint(pid, CheckpointLane.BACKFILL)
    assert checkpoint.state["source"]["streams"] == {"customer": {"offset": 250}, "invoice": {"offset": 120}}
    run = harness.instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.tags["pipeline/id"] == pid
    assert int(run.tags["sync/batches"]) >= (25 + 12) // 5


@pytest.mark.usefixtures("every_checkpoint_committed")
def test_every_batch_records_an_observation_per_stream_it_touched(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline()
    harness.materialize(pid, state_limit=5)
    records = harness.instance.fetch_observations(
        dg.AssetRecordsFilter(asset_key=key("customer"), asset_partitions=[pid]), limit=100
    ).records
    observed = [r.asset_observation.metadata for r in records]  # type: ignore[union-attr]
    batches = sorted(m["sync/batch"].value for m in observed)
    assert batches == list(range(batches[0], batches[0] + len(batches)))  # consecutive batches
    assert len(batches) >= 5  # 25 customer checkpoints, at most 5 per batch
    assert all(m["sync/checkpoints"].value <= 5 for m in observed)
    assert sum(m["sync/records"].value for m in observed) == 250
    assert observed[0]["sync/checkpoint"].value["offset"] == 250  # newest first: the final checkpoint


def test_a_subset_run_syncs_only_the_selected_streams(harness: DagsterHarness) -> None:
    pid = harness.create_pipeline()
    result = harness.materialize(pid, streams=["invoice"])
    assert result.success
    assert [e.asset_key for e in result.get_asset_materialization_events()] == [key("invoice")]
    state = harness.store.get_checkpoint(pid, CheckpointLane.BACKFILL).state
    assert set(state["source"]["streams"]) == {"invoice"}
    assert harness.store.get(pid).status is PipelineStatus.BACKFILL  # not every stream is done yet


def test_a_run_that_fails_mid_way_resumes_from_its_last_checkpoint(harness: DagsterHarness) -> None:
    """The source dies after 130 records: invoice (120) is done, customer has 10 committed."""
    pid = harness.create_pipeline(fail_after=130)
    failed = harness.materialize(pid)
    assert not failed.success
    assert [e.asset_key for e in failed.get_asset_materialization_events()] == [key("invoice")]
    state = harness.store.get_checkpoint(pid, CheckpointLane.BACKFILL).state
    assert state["source"]["streams"]["customer"] == {"offset": 10}
    harness.store.update(pid, _without_failure())
    resumed = harness.materialize(pid)
    assert resumed.success
    customer = next(e for e in resumed.get_asset_materialization_events() if e.asset_key == key("customer"))
    assert customer.materialization.metadata["sync/records_read"].value == 240  # only what was left
    assert harness.store.get(pid).status is PipelineStatus.READY


def _without_failure() -> object:
    from sync_platform.pipelines import PipelineUpdate
    from sync_platform_tests.defs.conftest import STREAMS

    return PipelineUpdate.model_validate(
        {
            "source": {
                "type": "fixture",
                "fixture": {"streams": STREAMS, "state_every": 10, "webhook_secret": "***"},
            }
        }
    )
