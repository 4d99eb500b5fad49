"""A backfill batch lets go of the checkpoint it loaded once the source has planned from it.

A Connect platform's backfill checkpoint holds an entry per account and stream (~100 MiB as
Python objects at 10,000 accounts). The engine's fold keeps each stream's stored state until the
stream checkpoints again; nothing else may keep it (the runner's loop and batch, ``Engine.sync``,
``run_sync`` and the Stripe source all used to, for the whole batch), or every batch holds it next
to the plans built from it. Checked through the real runner into PostgreSQL, by looking for live
copies of the loaded checkpoint once every stream it held has checkpointed in the batch.
"""

from __future__ import annotations

import gc
import itertools
import weakref
from collections.abc import Callable
from typing import Any

import pytest

from sync_platform import gc_policy
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import Engine
from sync_platform.engine.resolve import StateHandoff
from sync_platform.pipelines import CheckpointLane, PipelineStore
from sync_platform.pipelines.runner import (
    BatchCommitted,
    BatchStarted,
    CheckpointSaved,
    EngineMessage,
    Lane,
    LaneStarted,
    PipelineRunner,
    RunOptions,
    StatusChanged,
    checkpoint_writer,
)
from sync_platform.pipelines.states import DisplayStatus, PipelineStatus
from sync_platform.protocol import SyncState
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain
from sync_platform_tests.plugins.postgres import PgTestDatabase


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=3, connected_accounts=5, connected_objects=4, seed=23)


def live_copies(loaded: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Live dicts equal to one of ``loaded`` (the test's own copies excepted)."""
    gc.collect()
    ours = {id(value) for value in loaded}
    return [
        found
        for found in gc.get_objects()
        if type(found) is dict and id(found) not in ours and any(found == value for value in loaded)
    ]


def test_a_batch_keeps_no_copy_of_the_loaded_checkpoint_once_its_streams_checkpoint_again(
    store: PipelineStore, pg: PgTestDatabase, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Saves back to back (every one counts as small), so a save of a state with every stream
    # replaced is reported mid-batch as often as the machine allows (a loaded machine paces even
    # small saves).
    monkeypatch.setattr(checkpoint_writer, "SMALL_WRITE", float("inf"))
    runner = PipelineRunner(store, Engine(state_interval=0), holder="pytest runner")
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer", "product"], connected_accounts="all"
    )
    drain(runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(state_limit=6, max_batches=1)))
    stored = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert stored is not None
    # The streams the first batch checkpointed with lanes left: the second one checkpoints them again.
    streams = {
        name: state
        for name, state in stored["source"]["streams"].items()
        if state["remaining"] or state.get("unread")  # ranges left, or accounts not started
    }
    assert streams
    loaded = [stored, stored["source"], *streams.values()]

    replaced = False
    mid_batch: list[dict[str, Any]] | None = None
    at_commit: list[dict[str, Any]] | None = None
    for event in runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(max_batches=1)):
        # Once a saved checkpoint has every stream's state replaced, nothing may hold the loaded one:
        # earlier folded states legitimately did (the checkpoint writer keeps the one it is saving,
        # and the saves it reports together are listed until the last of them is). So the look is
        # at the next engine message after such a save. The writer runs in its own thread, so
        # whether that happens before the batch ends is up to the machine; the look when the batch
        # commits (the runner's frames alive, the final state saved) always runs.
        if isinstance(event, CheckpointSaved):
            saved = event.state.source.streams
            replaced = replaced or all(saved.get(name) != state for name, state in streams.items())
        elif isinstance(event, EngineMessage) and replaced and mid_batch is None:
            mid_batch = live_copies(loaded)  # the batch is still running: every frame of it alive
        elif isinstance(event, BatchCommitted):
            at_commit = live_copies(loaded)
    assert mid_batch in (None, []), "the batch still holds the checkpoint it loaded"
    assert at_commit == [], "the runner still holds the checkpoint the batch loaded"


def test_a_runs_next_batch_starts_from_the_state_its_last_batch_saved_without_reading_a_copy(
    store: PipelineStore, pg: PgTestDatabase, emulator: RunningEmulator
) -> None:
    runner = PipelineRunner(store, Engine(state_interval=0), holder="pytest runner")
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer", "product"], connected_accounts="all"
    )
    ended: SyncState | None = None
    copies: list[dict[str, Any]] | None = None
    for event in runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(state_limit=6, max_batches=2)):
        if isinstance(event, BatchCommitted) and event.number == 1:
            ended = event.eof.ending_state
        elif isinstance(event, EngineMessage) and event.batch == 2 and copies is None:
            assert ended is not None
            assert ended.source.streams
            copies = live_copies(list(ended.source.streams.values()))
        elif isinstance(event, BatchCommitted):
            final = event.eof.ending_state
    assert copies == [], "the second batch read back a copy of what the first one saved"
    stored = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert stored is not None
    assert stored["source"]["streams"] == final.source.streams


class _Cycle:
    """Garbage that reference counting never frees: it references itself."""

    def __init__(self) -> None:
        self.itself = self


@pytest.mark.parametrize("seconds", [10, 0], ids=["long batches", "short batches"])
def test_what_a_long_batch_left_in_reference_cycles_is_collected_before_the_next_batch(
    store: PipelineStore, pg: PgTestDatabase, emulator: RunningEmulator, seconds: int
) -> None:
    """What lives as long as a batch reaches the oldest generation, which the raised collector
    thresholds rarely collect, so what of it sits in a reference cycle (a read's accounts,
    exceptions' tracebacks and their frames) outlived the batch, next to the next batch's own:
    3-4 MiB a boundary at 10,000 accounts. The runner collects once a batch of ``LONG_BATCH``
    seconds or more has ended, and not after a short one. With the automatic collector off, a
    cycle dropped during the first batch must be gone when the second starts, after long batches
    only."""
    ticks = itertools.count(0, seconds)  # each reading of the clock: ``seconds`` later
    runner = PipelineRunner(
        store, Engine(state_interval=0), holder="pytest runner", monotonic=lambda: next(ticks)
    )
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer", "product"], connected_accounts="all"
    )
    left: weakref.ref[_Cycle] | None = None
    at_second_batch: list[bool] = []
    gc.disable()
    try:
        for event in runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(state_limit=6, max_batches=2)):
            if isinstance(event, EngineMessage) and event.batch == 1 and left is None:
                dropped = _Cycle()  # garbage the batch leaves, as its own cycles are
                left = weakref.ref(dropped)
                del dropped
            elif isinstance(event, BatchStarted) and event.number == 2:
                at_second_batch.append(left is not None and left() is not None)
    finally:
        gc.enable()
    assert at_second_batch == [seconds < gc_policy.LONG_BATCH]


def test_a_state_handoff_has_one_receiver() -> None:
    handoff = StateHandoff({"source": {}})
    assert handoff.take() == {"source": {}}
    with pytest.raises(RuntimeError, match="already taken"):
        handoff.take()


def test_a_runs_events_and_its_status_moves_carry_the_pipeline_without_its_checkpoints(
    store: PipelineStore, pg: PgTestDatabase, emulator: RunningEmulator
) -> None:
    """``LaneStarted`` stayed alive (in the presenters' loops) while a resumed run's first batch
    loaded its own copy of the checkpoint, and the move to ``ready`` read it whole again: the peak
    of a 10,000-account run. Presenters show statuses; the stored checkpoints are left as saved."""
    runner = PipelineRunner(store, Engine(state_interval=0), holder="pytest runner")
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer", "product"], connected_accounts="all"
    )
    drain(runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(state_limit=6, max_batches=1)))
    assert store.get(pipeline_id).sync_state is not None  # the resumed run has one to load

    events = drain(runner.run(pipeline_id, [Lane.BACKFILL]))

    carried = [event for event in events if isinstance(event, LaneStarted | StatusChanged)]
    assert [(e.before, e.after) for e in carried if isinstance(e, StatusChanged)] == [
        (DisplayStatus.BACKFILLING, DisplayStatus.READY)
    ]
    assert [(e.pipeline.sync_state, e.pipeline.live_state) for e in carried] == [(None, None)] * 2
    final = store.get(pipeline_id)
    assert final.status is PipelineStatus.READY
    assert final.sync_state == store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert carried[-1].pipeline == final.model_copy(update={"sync_state": None, "live_state": None})


def test_a_run_decides_its_lanes_without_reading_the_checkpoints(
    store: PipelineStore, pg: PgTestDatabase, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Which lanes run, and whether they may, is decided from statuses and config: the batch reads
    the backfill checkpoint itself, once (at 10,000 accounts a whole read is 21 MB of JSON)."""
    runner = PipelineRunner(store, Engine(state_interval=0), holder="pytest runner")
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer", "product"], connected_accounts="all"
    )
    drain(runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(state_limit=6, max_batches=1)))
    assert store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state is not None
    whole_reads: list[str] = []
    read_whole = store.get

    def counted(pipeline: str) -> Any:
        whole_reads.append(pipeline)
        return read_whole(pipeline)

    monkeypatch.setattr(store, "get", counted)  # the real read, counted
    events = drain(runner.run(pipeline_id, options=RunOptions(max_batches=1)))
    assert any(isinstance(event, LaneStarted) and event.lane is Lane.BACKFILL for event in events)
    assert whole_reads == []
