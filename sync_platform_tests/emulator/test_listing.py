"""Stripe's list semantics on the sorted index: order, cursors, created ranges, has_more."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync_platform.emulator.errors import ApiError
from sync_platform.emulator.listing import (
    CreatedRange,
    PageRequest,
    SortedIndex,
    SortKey,
    parse_page_request,
    select_page,
)

keys_strategy = st.lists(
    st.tuples(st.integers(0, 20), st.text("abcdef", min_size=1, max_size=3)), unique=True, max_size=60
)


def _paginate_forward(index: SortedIndex, limit: int, created: CreatedRange) -> list[SortKey]:
    seen: list[SortKey] = []
    cursor: SortKey | None = None
    while True:
        request = PageRequest(limit=limit, created=created, starting_after=cursor[1] if cursor else None)
        page, has_more = select_page(index, request, cursor_key=cursor)
        seen += page
        if not has_more:
            return seen
        cursor = page[-1]


def _paginate_backward(index: SortedIndex, limit: int, start: SortKey) -> list[SortKey]:
    seen: list[SortKey] = []
    cursor = start
    while True:
        page, has_more = select_page(
            index, PageRequest(limit=limit, ending_before=cursor[1]), cursor_key=cursor
        )
        seen += reversed(page)  # oldest first, as the SDK iterates ending_before pages
        if not has_more or not page:
            return seen
        cursor = page[0]


@settings(max_examples=200, deadline=None)
@given(
    keys=keys_strategy,
    limit=st.integers(1, 7),
    low=st.none() | st.integers(0, 20),
    high=st.none() | st.integers(0, 21),
)
def test_forward_pagination_returns_every_key_in_range_once_newest_first(
    keys: list[SortKey], limit: int, low: int | None, high: int | None
) -> None:
    created = CreatedRange(low, high)
    expected = sorted((k for k in keys if created.contains(k[0])), reverse=True)
    assert _paginate_forward(SortedIndex(keys), limit, created) == expected


@settings(max_examples=200, deadline=None)
@given(keys=keys_strategy.filter(bool), limit=st.integers(1, 7), data=st.data())
def test_ending_before_walks_back_to_the_newest_object(
    keys: list[SortKey], limit: int, data: st.DataObject
) -> None:
    start = data.draw(st.sampled_from(sorted(keys)))
    expected = sorted(k for k in keys if k > start)
    assert _paginate_backward(SortedIndex(keys), limit, start) == expected


def test_ties_on_created_are_ordered_by_id_descending() -> None:
    index = SortedIndex([(5, "b"), (5, "a"), (5, "c"), (4, "z"), (6, "a")])
    page, has_more = select_page(index, PageRequest(limit=3))
    assert page == [(6, "a"), (5, "c"), (5, "b")]
    assert has_more is True


@pytest.mark.parametrize(
    ("params", "low", "high"),
    [
        ({"created": {"gte": "10", "lt": "20"}}, 10, 20),
        ({"created": {"gt": "10", "lte": "20"}}, 11, 21),
        ({"created": "15"}, 15, 16),
    ],
)
def test_created_filters_become_half_open_ranges(params: dict[str, object], low: int, high: int) -> None:
    assert parse_page_request(params).created == CreatedRange(low, high)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "between 1 and 100"),
        ({"limit": "101"}, "between 1 and 100"),
        ({"limit": "ten"}, "Invalid integer"),
        ({"starting_after": "a", "ending_before": "b"}, "only specify one"),
        ({"created": {"after": "1"}}, r"created\[after\]"),
    ],
)
def test_bad_paging_parameters_get_stripe_400s(params: dict[str, object], message: str) -> None:
    with pytest.raises(ApiError, match=message) as caught:
        parse_page_request(params)
    assert caught.value.status == 400


def test_created_is_refused_where_the_list_does_not_accept_it() -> None:
    with pytest.raises(ApiError, match="unknown parameter: created"):
        parse_page_request({"created": {"gte": "1"}}, allow_created=False)
