"""Coalescing small-page checkpoints: fewer commits, nothing lost, order kept."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

import pytest

from sync_platform.engine import FakeClock
from sync_platform.engine.state_coalescing import StateCoalescer
from sync_platform.errors import ConfigError
from sync_platform.protocol import (
    DeferredStateData,
    GlobalStatePayload,
    Message,
    RecordMessage,
    SourceStateMessage,
    StreamStatusMessage,
    SyncState,
    global_state,
    stream_complete,
    stream_range_complete,
    stream_state,
)
from sync_platform.protocol.deferred_state import rendered_data, rendered_stream_states
from sync_platform_tests.engine.conftest import collect, make_harness, rec, state


def page(stream: str, number: int, size: int) -> list[Message]:
    """``size`` records of ``stream`` and the checkpoint after them."""
    return [*(rec(stream, f"{stream}_{number}_{i}") for i in range(size)), state(stream, number)]


async def _feed(messages: Sequence[Message], clock: FakeClock, tick: float) -> AsyncIterator[Message]:
    for message in messages:
        yield message
        if isinstance(message, SourceStateMessage):
            clock.advance(tick)


def coalesce(messages: Sequence[Message], *, tick: float = 0.0, **options: Any) -> list[Message]:
    """What the operator lets out, the clock moving ``tick`` seconds after each input state."""
    clock = FakeClock()

    async def go() -> list[Message]:
        return await collect(StateCoalescer(clock, **options).operator(_feed(messages, clock, tick)))

    return asyncio.run(go())


def cursors(messages: Sequence[Message]) -> list[Any]:
    return [m.source_state.data["cursor"] for m in messages if isinstance(m, SourceStateMessage)]


def records(messages: Sequence[Message]) -> list[str]:
    return [m.record.data["id"] for m in messages if isinstance(m, RecordMessage)]


def _key(message: SourceStateMessage) -> tuple[Any, Any]:
    return getattr(message.source_state, "stream", None), message.source_state.data.get("cursor")


def assert_each_state_after_its_records(inputs: Sequence[Message], output: Sequence[Message]) -> None:
    """Every state that leaves comes after every record that came before it in the input."""
    before: dict[Any, set[str]] = {}
    seen: set[str] = set()
    for message in inputs:
        if isinstance(message, RecordMessage):
            seen.add(message.record.data["id"])
        elif isinstance(message, SourceStateMessage):
            before[_key(message)] = set(seen)
    emitted: set[str] = set()
    for message in output:
        if isinstance(message, RecordMessage):
            emitted.add(message.record.data["id"])
        elif isinstance(message, SourceStateMessage):
            assert before[_key(message)] <= emitted


def test_many_small_pages_at_once_leave_as_the_first_and_the_last_checkpoint() -> None:
    inputs = [m for n in range(50) for m in page("customer", n, 2)]
    output = coalesce(inputs)
    assert records(output) == records(inputs)  # every record, in order
    assert cursors(output) == [0, 49]
    assert output[-1] == inputs[-1]  # the newest checkpoint, after the last record
    assert_each_state_after_its_records(inputs, output)


def test_a_small_page_checkpoint_leaves_once_the_interval_has_passed() -> None:
    inputs = [m for n in range(20) for m in page("customer", n, 3)]
    output = coalesce(inputs, tick=0.3, interval=1.0)
    # leaves at t=0; then the first state at least 1 s after the last one left: t=1.2, 2.4, ...
    assert cursors(output) == [0, 4, 8, 12, 16, 19]
    assert_each_state_after_its_records(inputs, output)


def test_full_pages_are_never_held() -> None:
    inputs = [m for n in range(5) for m in page("customer", n, 100)]
    assert coalesce(inputs) == inputs


def test_a_page_that_brings_the_held_records_to_a_full_page_lets_its_checkpoint_out() -> None:
    inputs = [m for n in range(30) for m in page("customer", n, 10)]
    # the first leaves at once; then every tenth page has brought 100 records since the last
    assert cursors(coalesce(inputs)) == [0, 10, 20, 29]


def test_interval_zero_passes_every_checkpoint() -> None:
    inputs = [m for n in range(10) for m in page("customer", n, 1)]
    assert coalesce(inputs, interval=0) == inputs


def test_streams_are_held_apart() -> None:
    inputs = [m for n in range(10) for stream in ("customer", "invoice") for m in page(stream, n, 1)]
    output = coalesce(inputs)
    by_stream = {
        stream: [
            m.source_state.data["cursor"]
            for m in output
            if isinstance(m, SourceStateMessage) and m.source_state.stream == stream
        ]
        for stream in ("customer", "invoice")
    }
    assert by_stream == {"customer": [0, 9], "invoice": [0, 9]}


def by_stream(messages: Sequence[Message]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for m in messages:
        if isinstance(m, SourceStateMessage):
            found.setdefault(m.source_state.stream, []).append(m.source_state.data["cursor"])
    return found


def test_ten_streams_of_small_pages_commit_four_times_an_interval_in_all_each_in_its_turn() -> None:
    # A Connect platform's default stream set: 10 streams, a small page every 0.05 s in all
    # (each stream every 0.5 s), for 30 s. One commit per stream per second was 300 commits.
    streams = [f"stream_{n}" for n in range(10)]
    inputs = [m for n in range(60) for stream in streams for m in page(stream, n, 1)]
    output = coalesce(inputs, tick=0.05, interval=1.0)
    assert records(output) == records(inputs)
    assert_each_state_after_its_records(inputs, output)
    committed = by_stream(output)
    # the first state of each, 4 turns a second, and each stream's last state at the end
    assert len(cursors(output)) <= 10 + 4 * 30 + 1 + 10
    for stream in streams:
        turns = committed[stream]
        assert turns[0] == 0
        assert turns[-1] == 59
        # Between the first turn (all ten came due together) and the end (every held state leaves):
        # never sooner than the interval (2 pages), and every stream in its turn: 10 turns of 0.25 s.
        gaps = [b - a for a, b in pairwise(turns[1:-1])]
        assert all(2 <= gap <= 6 for gap in gaps), (stream, turns)


def test_a_stream_with_rare_pages_is_not_starved_by_busy_ones() -> None:
    # Nine streams page every tick; one pages every 4.5 s, longer than a round of turns (ten
    # streams, 2.5 s) plus the interval. Each of its checkpoints is then the oldest due within a
    # round, so each one leaves before the next replaces it: a turn given to the first stream to
    # checkpoint once it is free would go to a busy one nearly every time.
    inputs: list[Message] = []
    for n in range(800):
        for stream in (f"busy_{k}" for k in range(9)):
            inputs += page(stream, n, 1)
        if n % 100 == 0:
            inputs += page("rare", n // 100, 1)
    output = coalesce(inputs, tick=0.005, interval=1.0)
    assert_each_state_after_its_records(inputs, output)
    assert by_stream(output)["rare"] == list(range(8))


def test_a_held_checkpoint_leaves_before_its_stream_completes() -> None:
    inputs = [*page("customer", 0, 1), *page("customer", 1, 1), *page("customer", 2, 1)]
    inputs += [stream_complete("customer"), *page("invoice", 0, 1)]
    output = coalesce(inputs)
    complete = next(i for i, m in enumerate(output) if isinstance(m, StreamStatusMessage))
    assert cursors(output[:complete]) == [0, 2]
    assert output[complete - 1] == inputs[5]  # the newest customer state, right before `complete`


def test_a_global_state_releases_every_held_stream_state_first() -> None:
    inputs = [
        *page("customer", 0, 1),
        *page("customer", 1, 1),
        *page("invoice", 0, 1),
        *page("invoice", 1, 1),
    ]
    inputs.append(global_state({"events_cursor": "evt_9"}))
    output = coalesce(inputs)
    assert isinstance(output[-1], SourceStateMessage)
    assert isinstance(output[-1].source_state, GlobalStatePayload)
    assert sorted(cursors(output[:-1])) == [0, 0, 1, 1]


def test_range_completes_are_held_with_their_checkpoint_and_merged() -> None:
    day = lambda d: datetime(2026, 1, d, tzinfo=UTC)  # noqa: E731
    inputs = [*page("customer", 0, 1), stream_range_complete("customer", day(1), day(2))]
    inputs += [*page("customer", 1, 1), stream_range_complete("customer", day(2), day(3))]
    inputs += [*page("customer", 2, 1), stream_range_complete("customer", day(3), day(4))]
    inputs += [*page("customer", 3, 1), stream_range_complete("customer", day(6), day(7))]
    output = coalesce(inputs)
    statuses = [m.stream_status.range_complete for m in output if isinstance(m, StreamStatusMessage)]
    # the first page's range left with its state; the held two left merged where they touch
    assert [(r.gte.day, r.lt.day) for r in statuses] == [(1, 2), (2, 4), (6, 7)]
    assert isinstance(output[-1], StreamStatusMessage)
    assert cursors(output) == [0, 3]


def test_a_failing_input_still_lets_the_held_checkpoint_out_before_the_error() -> None:
    clock = FakeClock()
    inputs = [m for n in range(5) for m in page("customer", n, 1)]

    async def failing() -> AsyncIterator[Message]:
        for message in inputs:
            yield message
        raise RuntimeError("source crashed")

    out: list[Message] = []

    async def go() -> None:
        async for message in StateCoalescer(clock).operator(failing()):
            out.append(message)

    with pytest.raises(RuntimeError, match="source crashed"):
        asyncio.run(go())
    assert cursors(out) == [0, 4]


def test_the_state_limit_counts_committed_checkpoints_so_small_pages_fill_one_batch() -> None:
    harness = make_harness()
    harness.source.script = [m for n in range(1, 31) for m in page("customer", n, 1)]

    async def go() -> Any:
        return await harness.engine.sync_batch(harness.pipeline(["customer"]), state_limit=10)

    result = asyncio.run(go())
    assert not result.has_more  # 30 small pages are 2 committed checkpoints, not 30
    assert result.ending_state.source.streams["customer"] == {"cursor": 30}
    assert cursors(harness.destination.received) == [1, 30]


def test_a_batch_cut_by_its_state_limit_takes_the_held_checkpoints_with_it() -> None:
    harness = make_harness()
    harness.source.script = [
        *page("invoice", 1, 1),  # leaves: the stream's first
        *page("customer", 1, 100),  # leaves: a full page
        *page("invoice", 2, 1),  # held
        *page("invoice", 3, 1),  # held, replacing 2
        *page("customer", 2, 100),  # leaves: the third committed checkpoint
        *page("invoice", 4, 1),  # cut at its record
    ]

    async def go() -> Any:
        return await harness.engine.sync_batch(harness.pipeline(), state_limit=3)

    result = asyncio.run(go())
    assert result.has_more
    # the held invoice checkpoint was committed at the cut: its records are not read again
    assert result.ending_state.source.streams == {"invoice": {"cursor": 3}, "customer": {"cursor": 2}}
    assert "invoice_4_0" not in records(harness.destination.received)
    assert_each_state_after_its_records(harness.source.script, harness.destination.received)


def test_sync_platform_checkpoint_interval_zero_commits_every_checkpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNC_PLATFORM_CHECKPOINT_INTERVAL", "0")
    harness = make_harness()
    harness.source.script = [m for n in range(1, 31) for m in page("customer", n, 1)]

    result = asyncio.run(harness.engine.sync_batch(harness.pipeline(["customer"]), state_limit=10))

    assert result.has_more
    assert cursors(harness.destination.received) == list(range(1, 11))


@pytest.mark.parametrize("value", ["soon", "-1", "99999"])
def test_a_checkpoint_interval_that_is_not_seconds_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SYNC_PLATFORM_CHECKPOINT_INTERVAL", value)
    with pytest.raises(ConfigError, match=r"SYNC_PLATFORM_CHECKPOINT_INTERVAL=.*between 0 and 3600"):
        make_harness()


def test_a_batch_cut_by_its_soft_time_limit_commits_what_was_held() -> None:
    """The source checkpoints every 10 records, 0.1 s apart: most are held, none is lost at the cut."""
    harness = make_harness()
    harness.source.then, harness.source.tick = "forever", 0.01

    async def go() -> Any:
        return await harness.engine.sync_batch(harness.pipeline(["customer"]), time_limit=2.5)

    result = asyncio.run(go())
    written = records(harness.destination.received)
    committed = cursors(harness.destination.received)
    assert result.has_more
    assert len(committed) < len(written) // 10  # coalesced: far fewer commits than checkpoints
    # the batch ends on the newest checkpoint whose records were all written: at most the last
    # page of ten (cut before its checkpoint) is read again
    assert result.ending_state.source.streams["customer"] == {"cursor": committed[-1]}
    assert len(written) - 10 < committed[-1] <= len(written)


class CountedCheckpoint(DeferredStateData):
    """A deferred checkpoint that counts how often it is written out."""

    __slots__ = ("cursor", "renders")

    def __init__(self, cursor: int) -> None:
        self.cursor, self.renders = cursor, 0

    def render(self) -> dict[str, Any]:
        self.renders += 1
        return {"cursor": self.cursor}


def deferred_pages(stream: str, count: int) -> tuple[list[Message], list[CountedCheckpoint]]:
    """``count`` pages of one record, each checkpoint deferred."""
    taken = [CountedCheckpoint(n) for n in range(1, count + 1)]
    messages = [
        m
        for n, data in enumerate(taken, 1)
        for m in (rec(stream, f"{stream}_{n}"), stream_state(stream, data))
    ]
    return messages, taken


def test_only_the_committed_deferred_checkpoints_reach_the_destination_and_the_eof_writes_out_one() -> None:
    harness = make_harness()
    harness.source.script, taken = deferred_pages("customer", 30)

    result = asyncio.run(harness.engine.sync_batch(harness.pipeline(["customer"]), state_limit=10))

    # the destination is handed the committed snapshots as they are (it never reads a state's data)
    snapshots = [
        m.source_state.data for m in harness.destination.received if isinstance(m, SourceStateMessage)
    ]
    assert snapshots == [taken[0], taken[29]]
    assert snapshots[0] is taken[0]
    assert snapshots[1] is taken[29]
    # the eof's ending state is plain data, written out once; no other snapshot is ever rendered
    assert result.ending_state.source.streams["customer"] == {"cursor": 30}
    assert [checkpoint.renders for checkpoint in taken] == [0] * 29 + [1]


def test_a_sync_yields_and_hands_over_its_checkpoints_as_snapshots_and_renders_only_the_eof() -> None:
    """The states a sync yields and the folded states a checkpoint writer is handed keep the
    snapshots, which serialize as their rendering; only the eof's ending state is data. Writing out
    every yielded state, which most readers never look into, was ~6 % of a Connect run's CPU."""
    harness = make_harness()
    harness.source.script, taken = deferred_pages("customer", 30)
    offered: list[SyncState] = []

    async def go() -> list[Message]:
        pipeline = harness.pipeline(["customer"])
        return await collect(harness.engine.sync(pipeline, state_limit=10, on_checkpoint=offered.append))

    output = asyncio.run(go())

    assert [checkpoint.renders for checkpoint in taken] == [0] * 29 + [1]  # the run wrote out its eof alone
    yielded = [m.source_state.data for m in output if isinstance(m, SourceStateMessage)]
    assert yielded == [taken[0], taken[29]]
    assert [m.to_wire()["source_state"]["data"] for m in output if isinstance(m, SourceStateMessage)] == [
        {"cursor": 1},
        {"cursor": 30},
    ]
    assert [rendered_data(data) for data in yielded] == [{"cursor": 1}, {"cursor": 30}]
    assert output[-1].eof.ending_state.source.streams["customer"] == {"cursor": 30}
    assert [checkpoint.renders for checkpoint in taken] == [2] + [0] * 28 + [3]  # read twice each since
    assert [offered_state.source.streams["customer"] for offered_state in offered] == [taken[0], taken[29]]
    assert offered[-1].to_wire()["source"]["streams"]["customer"] == {"cursor": 30}
    assert offered[-1].model_dump_json() == rendered_stream_states(offered[-1]).model_dump_json()


def test_reading_without_a_destination_writes_out_every_deferred_checkpoint() -> None:
    harness = make_harness()
    harness.source.script, taken = deferred_pages("customer", 5)

    async def go() -> list[Message]:
        return await collect(harness.engine.read(harness.pipeline(["customer"])))

    output = asyncio.run(go())
    assert cursors(output) == [1, 2, 3, 4, 5]
    assert output[-1].eof.ending_state.source.streams["customer"] == {"cursor": 5}
    assert [checkpoint.renders for checkpoint in taken] == [1] * 5
