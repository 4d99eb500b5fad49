"""The checkpoint writer: the newest committed state reaches the database, big ones paced."""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref
from typing import Any

import pytest

from sync_platform.pipelines import CheckpointLane, PipelineCreate, PipelineStore
from sync_platform.pipelines.runner import checkpoint_writer
from sync_platform.pipelines.runner.checkpoint_writer import (
    MAX_CPU_REST,
    SAVE_CPU_SHARE,
    SMALL_WRITE,
    WRITE_PACING,
    CheckpointWriter,
    rest_after,
)
from sync_platform.protocol import SyncState

ACCOUNTS = 1_000
WINDOW = {"gte": "2024-01-01T00:00:00Z", "lt": "2026-12-06T00:00:00Z"}


@pytest.fixture
def pipeline_id(pipeline_store: PipelineStore) -> str:
    return pipeline_store.create(
        PipelineCreate.model_validate(
            {"id": "platform", "source": {"type": "fixture", "fixture": {}}, "destination": {"type": "null"}}
        )
    ).id


def connect_state(listed: int) -> SyncState:
    """A Connect platform's checkpoint: 1,000 accounts x 10 streams (about 1.3 MB of JSON)."""
    accounts = {f"acct_{i:016d}": {"accounted_range": WINDOW, "listed": listed} for i in range(ACCOUNTS)}
    stream: dict[str, Any] = {
        "accounted_range": WINDOW,
        "remaining": [],
        "listed": listed,
        "accounts": accounts,
    }
    return SyncState.model_validate({"source": {"streams": {f"stream_{n}": stream for n in range(10)}}})


def test_a_big_checkpoint_offered_continuously_is_saved_paced_and_the_newest_at_the_end(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    states = [
        connect_state(listed) for listed in range(2)
    ]  # made first: the writer sees the CPU since it started
    writer = CheckpointWriter(pipeline_store, pipeline_id, CheckpointLane.BACKFILL, version=0)
    offered = 0
    until = time.monotonic() + 1.5
    while time.monotonic() < until:  # about 10 offers a second per stream, as coalesced pages commit
        writer.offer(states[offered % 2])
        offered += 1
        time.sleep(0.01)
    final = connect_state(99)
    writer.finish(final)

    saved = writer.take_saved()
    # The process does little else than offer (~0.2 % of a core), so keeping each save's CPU to a
    # twentieth of the process's would rest longer than MAX_CPU_REST: the first save rests that
    # long, and the state offered last is saved as the writer closes. (Ten times each save's
    # duration, the rest was ~0.1-0.5 s: three to fifteen saves.)
    assert MAX_CPU_REST > 1.5
    assert 1 <= len(saved) <= 2
    stored = pipeline_store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert stored == final.model_dump(mode="json", by_alias=True)


def test_save_now_stores_the_state_offered_last_without_waiting_out_the_rest(
    pipeline_store: PipelineStore, pipeline_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A clock that moves 10 ms a reading: every save "takes" over 5 ms, so each is followed by a
    # rest, here of about an hour.
    monkeypatch.setattr(checkpoint_writer, "WRITE_PACING", 1e6)
    readings = itertools.count()
    writer = CheckpointWriter(
        pipeline_store,
        pipeline_id,
        CheckpointLane.BACKFILL,
        version=0,
        monotonic=lambda: next(readings) * 0.01,
    )

    def stored() -> Any:
        return pipeline_store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state

    first, last = connect_state(1), connect_state(2)
    writer.offer(first)
    writer.save_now()
    assert stored() == first.model_dump(mode="json", by_alias=True)

    writer.offer(last)  # the writer is resting now
    time.sleep(0.3)
    assert stored() == first.model_dump(mode="json", by_alias=True)
    hurried = threading.Thread(target=writer.save_now)
    hurried.start()
    hurried.join(timeout=30)
    assert not hurried.is_alive(), "save_now waited out the rest"
    assert stored() == last.model_dump(mode="json", by_alias=True)
    writer.save_now()  # nothing new offered: returns at once
    writer.finish(None)
    assert writer.take_saved() == [first, last]


def test_the_writer_keeps_no_saved_state_alive_and_writes_the_final_one_once(
    pipeline_store: PipelineStore, pipeline_id: str
) -> None:
    """A Connect platform's state is megabytes: a writer that held the state it saved last kept an
    older copy of every stream's checkpoint alive next to the fold's newer one."""
    writer = CheckpointWriter(pipeline_store, pipeline_id, CheckpointLane.BACKFILL, version=0)
    state = connect_state(1)
    gone = weakref.ref(state)
    writer.offer(state)
    writer.save_now()
    assert writer.take_saved() == [state]
    del state
    gc.collect()
    assert gone() is None

    final = connect_state(2)
    writer.offer(final)
    writer.save_now()
    saved_version = writer.version
    writer.finish(final)  # already written: not written again
    assert writer.version == saved_version
    stored = pipeline_store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL)
    assert (stored.state, stored.version) == (final.model_dump(mode="json", by_alias=True), saved_version)
    writer.finish(connect_state(3))  # a state it never wrote is
    assert (
        pipeline_store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state["source"]["streams"][
            "stream_0"
        ]["listed"]
        == 3
    )


def test_a_small_save_never_rests() -> None:
    assert rest_after(SMALL_WRITE, save_cpu=SMALL_WRITE, others_cpu_rate=0.0) == 0.0


def test_a_big_save_in_a_busy_process_rests_ten_times_its_duration() -> None:
    """A single account's run at full speed: the rest of the process is a core's worth of work,
    so a twentieth of the CPU would allow a shorter rest than a tenth of the time."""
    seconds = SMALL_WRITE + 0.02
    assert rest_after(seconds, save_cpu=0.01, others_cpu_rate=1.0) == pytest.approx(WRITE_PACING * 0.02)


def test_a_big_save_in_a_process_that_works_little_rests_until_it_is_a_twentieth_of_the_cpu() -> None:
    """A Connect platform's backfill at 100 requests/s: ~0.1 core of work besides the saves, and
    each save's CPU (writing out every account's entry) is what would dominate."""
    seconds, save_cpu, others = 0.03, 0.01, 0.1
    rest = rest_after(seconds, save_cpu=save_cpu, others_cpu_rate=others)
    assert WRITE_PACING * (seconds - SMALL_WRITE) < rest < MAX_CPU_REST
    assert save_cpu / (save_cpu + others * (seconds + rest)) == pytest.approx(SAVE_CPU_SHARE)


def test_a_big_save_in_a_quiet_process_rests_the_longest_allowed() -> None:
    """Waiting out a rate limit, nothing else works: a twentieth would never come."""
    assert rest_after(0.03, save_cpu=0.01, others_cpu_rate=0.0) == MAX_CPU_REST
    assert rest_after(1.0, save_cpu=0.5, others_cpu_rate=0.0) == WRITE_PACING * (1.0 - SMALL_WRITE)
