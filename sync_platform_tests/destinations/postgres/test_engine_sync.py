"""The destination under the real engine: batched syncs resume from checkpoints it fenced."""

from __future__ import annotations

from typing import Any

from sync_platform.destinations.postgres import row_count
from sync_platform.engine import Engine, blocking
from sync_platform.protocol import PipelineConfig, RunStatus


def pipeline(config: dict[str, Any]) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "source": {
                "type": "fixture",
                "fixture": {"streams": {"customer": 250, "invoice": 120}, "state_every": 50},
            },
            "destination": {"type": "postgres", "postgres": {**config, "batch_size": 64}},
        }
    )


def test_batched_syncs_resume_and_land_every_record_exactly_once(config: dict[str, Any]) -> None:
    engine = Engine(state_interval=0)  # every checkpoint committed: a few records make many batches
    state: Any = None
    batches = 0
    while True:
        eof = blocking.run(engine.sync_batch(pipeline(config), state=state, run_id="run-1", state_limit=2))
        batches += 1
        assert eof.status != RunStatus.FAILED, eof.error
        state = eof.ending_state.model_dump(mode="json", by_alias=True) if eof.ending_state else None
        if not eof.has_more:
            break
    assert batches > 3  # the sync really was cut into batches and resumed
    assert row_count(config, "customer") == 250
    assert row_count(config, "invoice") == 120
    assert eof.ending_state is not None
    assert eof.ending_state.source.streams == {"customer": {"offset": 250}, "invoice": {"offset": 120}}
    assert eof.run_progress.derived.total_record_count == 370
