"""Engine.sync_batch: bounded, resumable batches that end on a checkpoint."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_platform.engine import Engine, blocking
from sync_platform.protocol import EofPayload, EofReason, PipelineConfig, RunStatus
from sync_platform_tests.engine.conftest import ScriptedSource, make_harness, rec, state


def test_state_limit_cuts_after_the_nth_state_and_keeps_the_run_id() -> None:
    script = [
        rec("customer", "1"),
        state("customer", "1"),
        rec("customer", "2"),
        state("customer", "2"),
        rec("customer", "3"),
        state("customer", "3"),
    ]
    h = make_harness(ScriptedSource(script))
    h.engine.state_interval = 0  # every checkpoint committed as it comes (none coalesced)
    eof = asyncio.run(h.engine.sync_batch(h.pipeline(), run_id="r", state_limit=2))
    assert eof.has_more is True
    assert eof.reason == EofReason.STATE_LIMIT
    assert eof.ending_state.source.streams["customer"] == {"cursor": "2"}  # type: ignore[union-attr]
    assert eof.ending_state.sync_run.run_id == "r"  # type: ignore[union-attr]


def test_a_source_that_ends_exactly_at_the_limit_has_no_more() -> None:
    """Fixes the reference's extra, empty request when exhaustion coincides with the limit."""
    h = make_harness(
        ScriptedSource(
            [rec("customer", "1"), state("customer", "1"), rec("customer", "2"), state("customer", "2")]
        )
    )
    eof = asyncio.run(h.engine.sync_batch(h.pipeline(), state_limit=2))
    assert eof.has_more is False
    assert eof.reason == EofReason.COMPLETE


def test_a_connector_failure_returns_a_failed_eof_with_the_checkpoint_so_far() -> None:
    h = make_harness(ScriptedSource([rec("customer", "1"), state("customer", "1")], then="raise"))
    eof = asyncio.run(h.engine.sync_batch(h.pipeline()))
    assert eof.status == RunStatus.FAILED
    assert eof.has_more is False
    assert eof.ending_state.source.streams == {"customer": {"cursor": "1"}}  # type: ignore[union-attr]
    assert eof.error is not None
    assert "source crashed" in eof.error


def fixture_pipeline(streams: dict[str, int], state_every: int, interleave: bool) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "source": {
                "type": "fixture",
                "fixture": {"streams": streams, "state_every": state_every, "interleave": interleave},
            },
            "destination": {"type": "null"},
        }
    )


def run_to_completion(engine: Engine, pipeline: PipelineConfig, state_limit: int) -> tuple[EofPayload, int]:
    state: Any = None
    batches = 0
    while True:
        eof = blocking.run(engine.sync_batch(pipeline, state=state, run_id="run", state_limit=state_limit))
        batches += 1
        state = eof.ending_state
        if not eof.has_more:
            return eof, batches


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=3),
    state_every=st.integers(min_value=1, max_value=7),
    state_limit=st.integers(min_value=1, max_value=9),
    interleave=st.booleans(),
)
def test_any_batching_ends_with_the_same_source_state_as_one_unbounded_call(
    counts: list[int], state_every: int, state_limit: int, interleave: bool
) -> None:
    pipeline = fixture_pipeline({f"s{i}": n for i, n in enumerate(counts)}, state_every, interleave)
    engine = Engine()
    whole = blocking.run(engine.sync_batch(pipeline, state_limit=10**9))
    batched, batches = run_to_completion(engine, pipeline, state_limit)
    assert whole.has_more is False
    assert batched.ending_state.source == whole.ending_state.source  # type: ignore[union-attr]
    assert batched.run_progress.derived.total_record_count == sum(counts)
    assert batched.status == RunStatus.SUCCEEDED
    total_states = sum(-(-n // state_every) for n in counts)
    assert batches <= total_states // state_limit + 1
