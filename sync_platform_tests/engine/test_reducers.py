"""Progress and state reducers: pure folds with explicit times."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_platform.engine import (
    EngineError,
    Initialize,
    RecordsSeen,
    initial_progress,
    is_progress_trigger,
    reduce_progress,
    reduce_state,
)
from sync_platform.protocol import (
    ConnectionStatusMessage,
    ConnectionStatusPayload,
    OpenTimeRange,
    RunStatus,
    StreamRunStatus,
    SyncState,
    connection_status,
    global_state,
    log,
    stream_complete,
    stream_error,
    stream_range_complete,
    stream_skip,
    stream_start,
)
from sync_platform_tests.engine.conftest import rec, state

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def fold(events: list[tuple[Any, float]], names: list[str] | None = None) -> Any:
    progress = initial_progress(names or [], T0)
    for event, seconds in events:
        progress = reduce_progress(progress, event, at(seconds))
    return progress


def test_records_per_second_is_records_over_elapsed_time() -> None:
    progress = fold(
        [(rec("customer", str(i)), 0) for i in range(3)] + [(rec("customer", "x"), 2)], ["customer"]
    )
    assert progress.derived.total_record_count == 4
    assert progress.derived.records_per_second == 2


def test_states_per_second_counts_global_states() -> None:
    progress = fold([(global_state({"c": 1}), 0), (global_state({"c": 2}), 4)])
    assert progress.global_state_count == 2
    assert progress.derived.states_per_second == 0.5


def test_records_seen_in_bulk_fold_like_single_records() -> None:
    one_by_one = fold([(rec("a", str(i)), 1) for i in range(5)] + [(rec("b", "x"), 3)])
    bulk = fold([(RecordsSeen({"a": 5}, first_seen_at=at(1)), 1), (RecordsSeen({"b": 1}), 3)])
    assert bulk == one_by_one


def test_a_failed_connection_fails_the_run_even_with_active_streams() -> None:
    progress = fold([(stream_start("customer"), 0), (connection_status(False, "bad key"), 1)], ["customer"])
    assert progress.derived.status == RunStatus.FAILED


def test_errored_plus_completed_is_failed_and_completed_plus_skipped_is_succeeded() -> None:
    failed = fold([(stream_complete("a"), 0), (stream_error("b", "boom"), 0)], ["a", "b"])
    assert failed.derived.status == RunStatus.FAILED
    assert failed.streams["b"].message == "boom"
    succeeded = fold([(stream_complete("a"), 0), (stream_skip("b", "not enabled"), 0)], ["a", "b"])
    assert succeeded.derived.status == RunStatus.SUCCEEDED


def test_an_empty_stream_map_never_succeeds() -> None:
    assert fold([(connection_status(True), 0)]).derived.status == RunStatus.STARTED


def test_stream_status_lifecycle_sets_status_total_range_and_merged_completed_ranges() -> None:
    start = stream_start("s", OpenTimeRange(gte=at(0), lt=at(100)))
    progress = fold(
        [
            (start, 0),
            (stream_range_complete("s", at(50), at(100)), 1),
            (stream_range_complete("s", at(0), at(50)), 2),
        ],
        ["s"],
    )
    stream = progress.streams["s"]
    assert stream.status == StreamRunStatus.STARTED
    assert stream.total_range is not None
    assert stream.total_range.lt == at(100)
    assert stream.completed_ranges is not None
    assert len(stream.completed_ranges) == 1
    assert (
        fold([(start, 0), (stream_complete("s"), 1)], ["s"]).streams["s"].status == StreamRunStatus.COMPLETED
    )


def test_non_progress_messages_return_the_same_object() -> None:
    progress = initial_progress(["s"], T0)
    assert reduce_progress(progress, log("info", "hi"), at(5)) is progress


def test_start_time_is_re_anchored_to_the_first_data_message() -> None:
    progress = fold([(rec("s", "1"), 10), (rec("s", "2"), 12)])
    assert progress.started_at == at(10)
    assert progress.elapsed_ms == 2000


def test_initialize_without_prior_state_starts_empty_with_a_ceiling_only_for_a_run_id() -> None:
    with_run = reduce_state(None, Initialize(["a"], "run-1"), T0)
    assert with_run.sync_run.run_id == "run-1"
    assert with_run.sync_run.time_ceiling == T0
    assert with_run.source.streams == {}
    assert reduce_state(None, Initialize(["a"]), T0).sync_run.time_ceiling is None


def test_same_run_id_is_a_continuation_keeping_progress_and_ceiling() -> None:
    first = reduce_state(None, Initialize(["a"], "run-1"), T0)
    first = reduce_state(first, global_state({"c": 1}), at(1))
    again = reduce_state(first, Initialize(["a"], "run-1"), at(100))
    assert again is first


def test_a_new_run_keeps_checkpoints_but_resets_progress_and_ceiling() -> None:
    first = reduce_state(None, Initialize(["a"], "run-1"), T0)
    first = reduce_state(first, state("a", 5), at(1))
    second = reduce_state(first, Initialize(["a"], "run-2"), at(100))
    assert second.source.streams == {"a": {"cursor": 5}}
    assert second.sync_run.run_id == "run-2"
    assert second.sync_run.time_ceiling == at(100)
    assert second.sync_run.progress.streams["a"].state_count == 0


def test_no_run_id_clears_a_stale_ceiling_instead_of_keeping_it() -> None:
    """Reference bug #6: the old ceiling froze every later sync's upper bound in the past."""
    first = reduce_state(None, Initialize(["a"], "run-1"), T0)
    assert reduce_state(first, Initialize(["a"]), at(100)).sync_run.time_ceiling is None


def test_stream_and_global_states_replace_their_own_slot_only() -> None:
    sync = reduce_state(None, Initialize(["a", "b"]), T0)
    sync = reduce_state(sync, state("a", 1), at(1))
    sync = reduce_state(sync, state("b", 1), at(1))
    sync = reduce_state(sync, global_state({"events_cursor": 9}), at(2))
    sync = reduce_state(sync, state("a", 2), at(3))
    assert sync.source.streams == {"a": {"cursor": 2}, "b": {"cursor": 1}}
    assert sync.source.global_ == {"events_cursor": 9}


def test_reducers_do_not_mutate_their_input() -> None:
    sync = reduce_state(None, Initialize(["a"], "r"), T0)
    snapshot = copy.deepcopy(sync.to_wire())
    reduce_state(sync, state("a", 1), at(1))
    reduce_state(sync, rec("a", "x"), at(1))
    reduce_state(sync, stream_complete("a"), at(1))
    assert sync.to_wire() == snapshot


def test_events_before_initialize_are_an_error() -> None:
    with pytest.raises(EngineError, match="Initialize"):
        reduce_state(None, state("a", 1), T0)


def test_progress_triggers_are_states_stream_statuses_and_connection_statuses() -> None:
    assert is_progress_trigger(state("a", 1))
    assert is_progress_trigger(stream_complete("a"))
    assert is_progress_trigger(
        ConnectionStatusMessage(connection_status=ConnectionStatusPayload(status="failed"))
    )
    assert not is_progress_trigger(rec("a", "1"))
    assert not is_progress_trigger(log("info", "x"))


state_events = st.lists(
    st.tuples(st.sampled_from(["a", "b", "c", "global"]), st.integers(min_value=0, max_value=1000)),
    max_size=30,
)


def _events(items: list[tuple[str, int]]) -> list[Any]:
    return [global_state({"n": n}) if name == "global" else state(name, n) for name, n in items]


@given(items=state_events)
def test_folding_any_interleaving_keeps_the_last_state_per_stream(items: list[tuple[str, int]]) -> None:
    sync = reduce_state(None, Initialize(["a", "b", "c"]), T0)
    for event in _events(items):
        sync = reduce_state(sync, event, at(1))
    expected_streams = {name: {"cursor": n} for name, n in items if name != "global"}
    expected_global = next(({"n": n} for name, n in reversed(items) if name == "global"), {})
    assert sync.source.streams == expected_streams
    assert sync.source.global_ == expected_global


@given(items=state_events, split=st.integers(min_value=0, max_value=30))
def test_a_prefix_folded_then_the_rest_equals_the_whole_folded(
    items: list[tuple[str, int]], split: int
) -> None:
    events = _events(items)
    start = reduce_state(None, Initialize(["a", "b", "c"]), T0)
    whole: SyncState = start
    for event in events:
        whole = reduce_state(whole, event, at(1))
    prefix = start
    for event in events[:split]:
        prefix = reduce_state(prefix, event, at(1))
    rest = SyncState.model_validate(prefix.to_wire())  # as if stored and loaded between batches
    for event in events[split:]:
        rest = reduce_state(rest, event, at(1))
    assert rest.source == whole.source
