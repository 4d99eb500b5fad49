"""Subdivision is gap-free and duplicate-free: every object of a range is read exactly once.

The property tests list a simulated Stripe collection (newest first, ``created`` filters,
``starting_after`` cursors) full of same-second ties and bursts larger than a page, split the
ranges in arbitrary ways and process them in arbitrary order.
"""

from __future__ import annotations

import bisect
import itertools
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_platform.sources.stripe.subdivision import (
    Page,
    Range,
    after_page,
    estimated_pages,
    split,
    split_parts,
)

Key = tuple[int, str]


def list_page(objects: list[Key], part: Range, limit: int) -> tuple[list[Key], bool]:
    """Stripe's list over ``objects`` (ascending keys): newest first within ``part``, after its cursor."""
    low = bisect.bisect_left(objects, (part.gte, ""))
    high = bisect.bisect_left(objects, (part.lt, ""))
    if part.cursor is not None:
        cursor_key = next(key for key in objects if key[1] == part.cursor)
        high = min(high, bisect.bisect_left(objects, cursor_key))
    start = max(low, high - limit)
    return objects[start:high][::-1], start > low


def summary(page: list[Key], has_more: bool) -> Page:
    return Page(
        count=len(page),
        has_more=has_more,
        last_id=page[-1][1] if page else None,
        oldest_created=min(created for created, _ in page) if page else None,
    )


def backfill(
    objects: list[Key], initial: Range, *, limit: int, min_span: int, rng: random.Random, max_parts: int
) -> list[str]:
    """Reads ``initial`` like the source does, with random split sizes and processing order, and
    now and then splits a waiting range between its pages (the backfill's rebalancing)."""
    queue = [initial]
    read: list[str] = []
    while queue:
        if rng.random() < 0.3:
            waiting = queue.pop(rng.randrange(len(queue)))
            queue += split(waiting.gte, waiting.lt, waiting.cursor, rng.randint(2, 4), min_span=min_span)
        part = queue.pop(rng.randrange(len(queue)))
        page, has_more = list_page(objects, part, limit)
        read += [object_id for _, object_id in page]
        outcome = after_page(
            part, summary(page, has_more), parts=rng.randint(1, max_parts), min_span=min_span
        )
        queue += outcome.remaining
    return read


@st.composite
def skewed_collections(draw: st.DrawFn) -> list[Key]:
    """Objects over ~2,000 seconds: bursts that share one second (some larger than a page), dense
    clusters, and a sparse rest."""
    seconds: list[int] = []
    for _ in range(draw(st.integers(0, 6))):  # same-second bursts
        seconds += [draw(st.integers(0, 2_000))] * draw(st.integers(1, 60))
    for _ in range(draw(st.integers(0, 4))):  # clusters within a few seconds
        start = draw(st.integers(0, 2_000))
        seconds += [min(2_000, start + draw(st.integers(0, 5))) for _ in range(draw(st.integers(1, 40)))]
    seconds += draw(st.lists(st.integers(0, 2_000), max_size=80))
    return sorted((created, f"obj_{index:05d}") for index, created in enumerate(seconds))


@settings(max_examples=300, deadline=None)
@given(
    objects=skewed_collections(),
    limit=st.integers(1, 12),
    min_span=st.integers(1, 40),
    max_parts=st.integers(1, 8),
    seed=st.integers(0, 2**32),
)
def test_every_object_is_read_exactly_once_whatever_the_splits_and_order(
    objects: list[Key], limit: int, min_span: int, max_parts: int, seed: int
) -> None:
    read = backfill(
        objects, Range(0, 2_001), limit=limit, min_span=min_span, rng=random.Random(seed), max_parts=max_parts
    )
    assert sorted(read) == sorted(object_id for _, object_id in objects)


@settings(max_examples=200, deadline=None)
@given(
    objects=skewed_collections(), gte=st.integers(0, 2_000), width=st.integers(1, 2_000), seed=st.integers()
)
def test_a_range_reads_exactly_the_objects_created_inside_it(
    objects: list[Key], gte: int, width: int, seed: int
) -> None:
    read = backfill(
        objects, Range(gte, gte + width), limit=5, min_span=3, rng=random.Random(seed), max_parts=4
    )
    assert sorted(read) == sorted(object_id for created, object_id in objects if gte <= created < gte + width)


@given(
    gte=st.integers(0, 10_000),
    width=st.integers(1, 10_000),
    parts=st.integers(1, 20),
    span=st.integers(1, 60),
)
def test_split_tiles_the_range_and_only_the_newest_part_keeps_the_cursor(
    gte: int, width: int, parts: int, span: int
) -> None:
    children = split(gte, gte + width, "cus_last", parts, min_span=span)
    assert children[0].gte == gte
    assert children[-1].lt == gte + width
    assert all(a.lt == b.gte for a, b in itertools.pairwise(children))
    assert all(child.gte < child.lt for child in children)
    assert [child.cursor for child in children] == [None] * (len(children) - 1) + ["cus_last"]
    assert len(children) == 1 or all(child.lt - child.gte >= span for child in children)


def test_the_rest_of_a_range_splits_in_two_with_the_boundary_second_drained_by_the_cursor() -> None:
    outcome = after_page(
        Range(0, 1_000), Page(count=100, has_more=True, last_id="cus_900", oldest_created=900), parts=2
    )
    assert outcome.remaining == (Range(0, 450), Range(450, 901, "cus_900"))
    assert outcome.completed == Range(901, 1_000)


def test_a_rest_shorter_than_the_minimum_span_is_drained_with_the_cursor() -> None:
    outcome = after_page(Range(100, 200), Page(100, True, "cus_x", 110), parts=8)
    assert outcome.remaining == (Range(100, 111, "cus_x"),)
    assert outcome.completed == Range(111, 200)


def test_a_page_that_fills_one_second_keeps_the_whole_range_with_its_cursor() -> None:
    outcome = after_page(Range(50, 51), Page(100, True, "cus_x", 50), parts=8)
    assert outcome.remaining == (Range(50, 51, "cus_x"),)
    assert outcome.completed is None


def test_the_last_page_completes_the_range() -> None:
    outcome = after_page(Range(0, 1_000, "cus_9"), Page(3, False, "cus_1", 10), parts=4)
    assert outcome.remaining == ()
    assert outcome.completed == Range(0, 1_000, "cus_9")


def test_without_creation_times_or_created_filter_the_range_is_continued_not_split() -> None:
    assert after_page(Range(0, 1_000), Page(100, True, "ii_1", None), parts=4).remaining == (
        Range(0, 1_000, "ii_1"),
    )
    unordered = after_page(Range(0, 1_000), Page(100, True, "pm_1", 500), parts=4, ordered_by_created=False)
    assert unordered.remaining == (Range(0, 1_000, "pm_1"),)


def test_a_last_page_is_never_split_whatever_the_room() -> None:
    assert split_parts(Range(0, 100_000), Page(40, False, "cus_1", 99_000), room=16, page_size=100) == 1


def test_a_page_with_more_splits_its_rest_only_in_parts_that_each_hold_two_pages() -> None:
    # 100 objects in the newest 1,000 s of [0, 100,000): the rest may hold ~99 pages
    dense = Page(100, True, "cus_1", 99_000)
    assert split_parts(Range(0, 100_000), dense, room=8, page_size=100) == 8
    assert split_parts(Range(0, 100_000), dense, room=64, page_size=100) == 16  # BRANCHING
    # ...but the stream's share of the concurrency is nearly taken
    assert split_parts(Range(0, 100_000), dense, room=2, page_size=100) == 2
    assert split_parts(Range(0, 100_000), dense, room=1, page_size=100) == 1
    # 100 objects in the newest 20,000 s: the rest holds ~5 pages, two parts of 2.5
    medium = Page(100, True, "cus_1", 80_000)
    assert split_parts(Range(0, 100_000), medium, room=16, page_size=100) == 2
    # 100 objects in the newest 40,000 s: the rest holds ~1.5 pages, read on with the cursor
    sparse = Page(100, True, "cus_1", 60_000)
    assert split_parts(Range(0, 100_000), sparse, room=16, page_size=100) == 1


def test_a_first_page_inside_one_second_halves_the_range_but_a_walk_through_the_burst_does_not() -> None:
    burst = Page(100, True, "cus_1", 99_999)
    assert split_parts(Range(0, 100_000), burst, room=16, page_size=100) == 2
    assert split_parts(Range(0, 100_000, "cus_2"), burst, room=16, page_size=100) == 1


def test_the_density_estimate_scales_the_page_to_the_rest_of_the_range() -> None:
    # 100 objects in the newest 100 s of [0, 1000): the 901 s left may hold ~9 pages
    assert estimated_pages(Range(0, 1_000), Page(100, True, "x", 900), 100) == 9.01
    assert estimated_pages(Range(0, 1_000), Page(100, True, "x", 999), 100) is None  # one-second burst
