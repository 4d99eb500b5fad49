"""Backfill checkpoints: their JSON shapes, and how a stored one is re-aimed at a new time range."""

from __future__ import annotations

import copy
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from sync_platform.protocol import from_unix, iso
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.backfill_state import (
    STREAM_STATE_SCHEMA,
    LaneState,
    StreamStateError,
    Window,
    dump_stream_state,
    fresh_lane,
    parse_stream_state,
    reconcile,
    union_window,
)
from sync_platform.sources.stripe.lane_table import LaneTable
from sync_platform.sources.stripe.subdivision import Range
from sync_platform.sources.stripe.tagged_rendering import TaggedCheckpoint, TaggedRendering

DAY = 86_400
T0 = 1_700_000_000
WHOLE = {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}


def test_a_grown_window_adds_only_the_new_time_to_a_finished_backfill() -> None:
    done = LaneState(Window(T0, T0 + DAY), (), listed=42)
    lane = reconcile(done, Window(T0, T0 + 2 * DAY))
    assert lane.remaining == (Range(T0 + DAY, T0 + 2 * DAY),)
    assert lane.listed == 42
    assert lane.accounted == Window(T0, T0 + 2 * DAY)


def test_an_earlier_start_adds_the_older_time() -> None:
    lane = reconcile(LaneState(Window(T0, T0 + DAY), ()), Window(T0 - DAY, T0 + DAY))
    assert lane.remaining == (Range(T0 - DAY, T0),)


def test_a_narrower_window_drops_and_clips_ranges_and_keeps_their_cursors() -> None:
    stored = LaneState(
        Window(T0, T0 + 3 * DAY),
        (
            Range(T0, T0 + DAY, "cus_a"),
            Range(T0 + DAY, T0 + 2 * DAY, "cus_b"),
            Range(T0 + 2 * DAY, T0 + 3 * DAY),
        ),
    )
    lane = reconcile(stored, Window(T0 + DAY // 2, T0 + 2 * DAY))
    assert lane.remaining == (Range(T0 + DAY // 2, T0 + DAY, "cus_a"), Range(T0 + DAY, T0 + 2 * DAY, "cus_b"))


def test_an_unchanged_window_keeps_everything_in_a_lane_of_its_own() -> None:
    stored = LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + DAY, "cus_a"),), 5)
    lane = reconcile(stored, Window(T0, T0 + DAY))
    assert lane == stored
    lane.listed += 1  # the ranges are an immutable tuple; the counts are the lane's own
    assert stored.listed == 5


def test_an_empty_window_has_nothing_to_read() -> None:
    assert fresh_lane(Window(T0, T0)).remaining == ()


def test_the_one_account_shape_is_exactly_accounted_range_remaining_and_listed() -> None:
    lane = LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + 60, "cus_1"),), 7)
    state = dump_stream_state({"acct_1": lane}, tagged=False)
    assert state == {
        "accounted_range": {"gte": "2023-11-14T22:13:20Z", "lt": "2023-11-15T22:13:20Z"},
        "remaining": [{"gte": "2023-11-14T22:13:20Z", "lt": "2023-11-14T22:14:20Z", "cursor": "cus_1"}],
        "listed": 7,
    }
    assert parse_stream_state(state, platform_account="acct_1") == {"acct_1": lane}
    Draft202012Validator(STREAM_STATE_SCHEMA).validate(state)


def test_the_tagged_shape_keeps_each_accounts_range_and_sums_the_counts() -> None:
    lanes = {
        "acct_p": LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + DAY),), 3),
        "acct_c": LaneState(Window(T0 - DAY, T0 + DAY), (), 4),
    }
    state = dump_stream_state(lanes, tagged=True)
    assert state["listed"] == 7
    assert [part["account"] for part in state["remaining"]] == ["acct_p"]
    assert set(state["accounts"]) == {"acct_p", "acct_c"}
    assert parse_stream_state(state, platform_account="acct_p") == lanes
    Draft202012Validator(STREAM_STATE_SCHEMA).validate(state)


def test_a_lane_not_read_yet_is_named_only_under_unread_and_is_planned_afresh() -> None:
    """At the start of a Connect backfill nearly every lane is unread: a range and an entry would
    only repeat the window the next read plans for it anyway (a range was ~105 bytes of JSON per
    account and stream in every save), so only its account is named, under `unread`."""
    lanes = {
        "acct_p": LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + DAY),), 3),  # read, same shape
        "acct_a": LaneState(Window(T0 - DAY, T0), (Range(T0 - DAY, T0),), 0),  # not read yet
        "acct_b": LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + DAY, "ch_9"),), 0),  # a cursor
        "acct_c": LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + 60), Range(T0 + 60, T0 + DAY)), 0),
        "acct_d": LaneState(Window(T0, T0), (), 0),  # an empty window: complete at once
        "acct_e": LaneState(Window(T0, T0 + DAY), (Range(T0, T0 + DAY),), 0),  # not read yet
    }
    state = dump_stream_state(lanes, tagged=True)

    assert set(state["accounts"]) == {"acct_p", "acct_b", "acct_c", "acct_d"}
    assert [part["account"] for part in state["remaining"]] == ["acct_p", "acct_b", "acct_c", "acct_c"]
    assert state["unread"] == ["acct_a", "acct_e"]
    read = {account: lane for account, lane in lanes.items() if not lane.untouched}
    assert parse_stream_state(state, platform_account="acct_p") == read
    Draft202012Validator(STREAM_STATE_SCHEMA).validate(state)
    rendering = TaggedRendering()
    rendering.render(LaneTable.of(lanes), None)
    assert rendering.checkpoint(union_window(lane.accounted for lane in lanes.values())) == state


def test_a_checkpoint_from_before_unread_reads_its_unread_lanes_from_remaining() -> None:
    """Saved before `unread` existed, a lane not read yet was its one range under `remaining`."""
    unread = LaneState(Window(T0 - DAY, T0), (Range(T0 - DAY, T0),), 0)
    stored = dump_stream_state({"acct_p": LaneState(Window(T0, T0 + DAY), (), 3)}, tagged=True)
    del stored["unread"]
    stored["remaining"] = [
        {"account": "acct_a", "gte": iso(from_unix(T0 - DAY)), "lt": iso(from_unix(T0)), "cursor": None}
    ]
    assert parse_stream_state(stored, platform_account="acct_p")["acct_a"] == unread


@pytest.mark.parametrize(
    ("unread", "named"),
    [
        ("acct_a", "`unread` must be a list of account ids"),
        ([7], "`unread` must"),
        (["acct_p"], "acct_p is unread"),
    ],
)
def test_unread_names_accounts_with_nothing_else_stored(unread: object, named: str) -> None:
    stored = {
        **dump_stream_state({"acct_p": LaneState(Window(T0, T0 + DAY), (), 3)}, tagged=True),
        "unread": unread,
    }
    with pytest.raises(StreamStateError, match=re.escape(named)):
        parse_stream_state(stored, platform_account="acct_p")


def test_a_finished_lane_over_its_accounts_whole_window_is_stored_as_its_count() -> None:
    """At the end of a Connect backfill nearly every lane is finished over [its account's creation,
    the read's end): its entry is the count alone (~25 bytes of JSON against ~105), and reading
    it back resolves the window from the accounts the read covers."""
    accounts = {
        "acct_p": StripeAccount("acct_p", T0 - 9 * DAY, None),
        "acct_a": StripeAccount("acct_a", T0 - DAY, "acct_a"),
        "acct_b": StripeAccount("acct_b", T0, "acct_b"),
    }
    end = T0 + DAY
    lanes = {
        "acct_p": LaneState(Window(T0 - 9 * DAY, end), (), 40),
        "acct_a": LaneState(Window(T0 - DAY, end), (Range(T0, end, "ch_1"),), 7),  # still reading
        "acct_b": LaneState(Window(T0, end), (), 0),  # finished with nothing
    }
    state = dump_stream_state(lanes, tagged=True, since_creation=True)

    reading = {"gte": iso(from_unix(T0 - DAY)), "lt": iso(from_unix(end))}
    assert state["accounts"] == {
        "acct_p": 40,
        "acct_a": {"accounted_range": reading, "listed": 7},
        "acct_b": 0,
    }
    assert state["listed"] == 47
    assert parse_stream_state(state, platform_account="acct_p", accounts=accounts) == lanes
    Draft202012Validator(STREAM_STATE_SCHEMA).validate(state)
    # a count of an account the read does not cover is left out (its lanes are not planned)
    assert set(parse_stream_state(state, platform_account="acct_p", accounts={})) == {"acct_a"}
    rendering = TaggedRendering(since_creation=True)
    rendering.render(LaneTable.of(lanes), None)
    assert rendering.checkpoint(union_window(lane.accounted for lane in lanes.values())) == state


@pytest.mark.parametrize(
    ("entry", "named"),
    [(-1, "accounts.acct_x must be an object or a finished lane's count"), (True, "accounts.acct_x must")],
)
def test_a_count_entry_is_a_whole_number(entry: object, named: str) -> None:
    stored = {"accounted_range": WHOLE, "remaining": [], "accounts": {"acct_x": entry}}
    with pytest.raises(StreamStateError, match=re.escape(named)):
        parse_stream_state(stored, platform_account="acct_p", accounts={})


def test_a_finished_lane_with_ranges_left_is_not_a_checkpoint() -> None:
    stored = {
        "accounted_range": WHOLE,
        "remaining": [{"account": "acct_x", **WHOLE, "cursor": None}],
        "accounts": {"acct_x": 3},
    }
    with pytest.raises(StreamStateError, match="account acct_x is finished"):
        parse_stream_state(stored, platform_account="acct_p", accounts={})


def test_a_one_account_checkpoint_becomes_the_platforms_lane_when_connect_accounts_are_added() -> None:
    lane = LaneState(Window(T0, T0 + DAY), (), 9)
    lanes = parse_stream_state(dump_stream_state({"x": lane}, tagged=False), platform_account="acct_p")
    assert lanes == {"acct_p": lane}


@pytest.mark.parametrize(
    "stored",
    [
        {"eventId": "evt_1", "eventCreated": T0},  # the reference's event state (its bug #1)
        {"remaining": "all"},
        {"accounted_range": {"gte": "yesterday", "lt": "today"}, "remaining": []},
        {"accounted_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}, "remaining": [{}]},
        {
            "accounted_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"},
            "remaining": [{"account": "acct_x", **WHOLE, "cursor": "ch_1"}],  # read, yet no entry
            "accounts": {},
        },
        # Connect entries and ranges are checked here, not by the published schema (see STREAM_STATE_SCHEMA)
        {"accounted_range": WHOLE, "remaining": ["nonsense"]},
        {"accounted_range": WHOLE, "remaining": [{"gte": "2024-01-01T00:00:00Z", "lt": 7, "cursor": None}]},
        {"accounted_range": WHOLE, "remaining": [{**WHOLE, "cursor": 12}]},
        {"accounted_range": WHOLE, "remaining": [], "accounts": {"acct_x": "nonsense"}},
        {"accounted_range": WHOLE, "remaining": [], "accounts": {"acct_x": {"listed": 1}}},
        {"accounted_range": WHOLE, "remaining": [], "accounts": ["acct_x"]},
    ],
)
def test_anything_else_is_not_a_checkpoint(stored: object) -> None:
    if isinstance(stored, dict) and stored.get("accounted_range") == WHOLE and stored["remaining"] == []:
        valid = {**stored, "accounts": {"acct_x": {"accounted_range": WHOLE, "listed": 1}}}
        assert parse_stream_state(valid, platform_account="acct_p")["acct_x"].listed == 1
    with pytest.raises(StreamStateError):
        parse_stream_state(stored, platform_account="acct_p")


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ({"accounted_range": {**WHOLE, "lt": "today"}, "remaining": []}, "accounted_range.lt is not an ISO"),
        (
            {"accounted_range": WHOLE, "remaining": [{**WHOLE, "cursor": None}, {**WHOLE, "gte": 7}]},
            "remaining[1].gte must",
        ),
        ({"accounted_range": WHOLE, "remaining": [{**WHOLE, "cursor": 12}]}, "remaining[0].cursor must"),
        (
            {
                "accounted_range": WHOLE,
                "remaining": [],
                "accounts": {"acct_x": {"accounted_range": {"gte": WHOLE["gte"]}}},
            },
            "accounts.acct_x.accounted_range.lt must",
        ),
    ],
)
def test_a_checkpoint_that_is_not_one_is_refused_with_the_place_that_is_wrong(
    stored: object, named: str
) -> None:
    """The warning a user sees when a stream starts over names the key to look at."""
    with pytest.raises(StreamStateError, match=re.escape(named)):
        parse_stream_state(stored, platform_account="acct_p")


_ACCOUNTS = [f"acct_{i:03d}" for i in range(197)]
_change = st.tuples(
    st.sampled_from(_ACCOUNTS),
    st.lists(st.tuples(st.integers(0, DAY - 60), st.one_of(st.none(), st.just("cus_x"))), max_size=3),
    st.integers(0, 500),
)


@settings(max_examples=40, deadline=None)
@given(
    changes=st.lists(_change, min_size=1, max_size=30), joined=st.integers(0, 3), since_creation=st.booleans()
)
def test_a_rendered_checkpoint_always_equals_one_dumped_from_scratch_and_never_changes_once_out(
    changes: list[tuple[str, list[tuple[int, str | None]], int]], joined: int, since_creation: bool
) -> None:
    """Pages of any accounts, in any order, re-render only their lane: every checkpoint equals
    the one rendered from scratch, in the same order, and no later page changes one already
    emitted (reference bug #4). Accounts may join
    between pages (the next read's table, with a new Connect account). A page's snapshot (what
    the engine holds back until it commits it) written out only after every later page still
    says what that page's checkpoint said."""
    lanes = LaneTable.of({account: fresh_lane(Window(T0, T0 + DAY)) for account in _ACCOUNTS})
    rendering = TaggedRendering(since_creation=since_creation)  # every account created at T0
    rendering.render(lanes, None)
    emitted: list[tuple[dict[str, object], dict[str, object]]] = []
    snapshots: list[tuple[TaggedCheckpoint, dict[str, object]]] = []
    for step, (account, starts, listed) in enumerate(changes):
        lanes[account].remaining = tuple(
            Range(T0 + s, T0 + s + 60, cursor) for s, cursor in sorted(dict(starts).items())
        )
        lanes[account].listed = listed
        rendering.render(lanes, (account,))
        if step < joined:  # the next read's table: every lane rendered again
            lanes = LaneTable.of({**lanes.states(), f"acct_joined_{step}": fresh_lane(Window(T0, T0 + DAY))})
            rendering.render(lanes, ())
        union = lanes.union()
        dumped = dump_stream_state(lanes, tagged=True, since_creation=since_creation)
        snapshots.append((rendering.snapshot(union), dumped))
        checkpoint = rendering.checkpoint(union)
        assert checkpoint == dumped
        emitted.append((checkpoint, copy.deepcopy(checkpoint)))
    assert all(checkpoint == copy_of for checkpoint, copy_of in emitted)
    for snapshot, dumped in snapshots:
        first, second = snapshot.render(), snapshot.render()
        assert first == second == dumped
        assert first["accounts"] is not second["accounts"]
        assert first["remaining"] is not second["remaining"]
