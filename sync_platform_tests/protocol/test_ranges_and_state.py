"""merge_ranges and SyncState parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_platform.protocol import ProtocolError, SyncState, TimeRange, merge_ranges, parse_sync_state


def r(start: int, end: int) -> TimeRange:
    return TimeRange(gte=datetime(start, 1, 1, tzinfo=UTC), lt=datetime(end, 1, 1, tzinfo=UTC))


def test_merge_ranges_merges_adjacent_and_overlapping_ranges() -> None:
    assert merge_ranges([r(2024, 2025), r(2020, 2022), r(2021, 2023)]) == (r(2020, 2023), r(2024, 2025))
    assert merge_ranges([r(2020, 2021), r(2021, 2022)]) == (r(2020, 2022),)


def test_merge_ranges_keeps_gaps_and_does_not_mutate_its_input() -> None:
    ranges = [r(2022, 2023), r(2020, 2021)]
    assert merge_ranges(ranges) == (r(2020, 2021), r(2022, 2023))
    assert ranges == [r(2022, 2023), r(2020, 2021)]


def test_parse_sync_state_accepts_none_full_and_legacy_shapes() -> None:
    assert parse_sync_state(None) is None
    full = SyncState().to_wire()
    assert parse_sync_state(full) == SyncState()
    legacy = parse_sync_state({"streams": {"customer": {"cursor": 1}}, "global": {"events_cursor": 5}})
    assert legacy is not None
    assert legacy.source.streams == {"customer": {"cursor": 1}}
    assert legacy.source.global_ == {"events_cursor": 5}


def test_an_invalid_stored_state_is_an_error_not_a_silent_reset() -> None:
    with pytest.raises(ProtocolError, match="reset-state"):
        parse_sync_state({"source": {"streams": "not a map"}})
