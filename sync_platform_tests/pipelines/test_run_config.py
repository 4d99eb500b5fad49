"""A stored pipeline runs on the engine: secrets resolved in-process, checkpoints saved and resumed."""

from __future__ import annotations

from sync_platform.engine import ConnectorRegistry, Engine, blocking
from sync_platform.pipelines import CheckpointLane, PipelineCreate, PipelineStore
from sync_platform.protocol import RunStatus, StreamConfig


def test_a_batched_backfill_resumes_from_the_stored_checkpoint(
    pipeline_store: PipelineStore, connector_registry: ConnectorRegistry
) -> None:
    """The loop the Dagster backfill job will run: bind, sync a batch, commit the checkpoint, repeat."""
    pipeline = pipeline_store.create(
        PipelineCreate.model_validate(
            {
                "id": "stripe-sync",
                "source": {
                    "type": "secretive",
                    "secretive": {"api_key": {"env": "STRIPE_API_KEY"}, "streams": {"customer": 25}},
                },
                "destination": {"type": "null"},
                "streams": [{"name": "customer", "backfill_limit": 20}],
            }
        )
    )
    engine = Engine(connector_registry)
    config = pipeline_store.resolve_secrets(pipeline)
    assert config.streams == [StreamConfig(name="customer", backfill_limit=20)]
    batches = 0
    version = 0
    while True:
        stored = pipeline_store.get_checkpoint("stripe-sync", CheckpointLane.BACKFILL)
        eof = blocking.run(engine.sync_batch(config, state=stored.state, run_id="backfill-1", state_limit=1))
        assert eof.status is not RunStatus.FAILED, eof.error
        version = pipeline_store.save_checkpoint(
            "stripe-sync", eof.ending_state, expected_version=stored.version
        )
        batches += 1
        if not eof.has_more:
            break

    final = pipeline_store.get("stripe-sync")
    assert final.sync_state is not None
    assert final.sync_state["source"]["streams"]["customer"] == {"offset": 20}  # the backfill_limit held
    assert eof.run_progress.streams["customer"].record_count == 20
    assert batches == version == 4  # 20 records, a checkpoint every 5, one checkpoint per batch
