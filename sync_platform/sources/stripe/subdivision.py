"""Splitting a ``created`` range after each page so a backfill can list it in parallel, gap-free.

Stripe lists newest first (``created`` descending, then id descending) and filters by
``created[gte]``/``created[lt]``. A page of a range ``[gte, lt)`` that says ``has_more`` has read
every object created after its oldest one, ``oldest``; what is left is ``[gte, oldest]``. That rest
can be cut into ranges fetched concurrently, with one rule that makes the split exact: **the part
holding the boundary second keeps the cursor**. More objects than a page may share the second
``oldest`` (an import, a billing run), some already read and some not; only ``starting_after``
tells them apart, so the last part ``[b, oldest + 1)`` continues after the page's last id, and
every other part lies wholly before ``oldest`` and starts fresh. Parts tile the rest exactly,
so no object is read twice or missed. ``sync_platform_tests/sources/stripe/test_subdivision.py``
proves it with hypothesis on skewed data full of same-second ties.

How many parts is policy (``split_parts``): enough to keep ``target`` ranges of the stream open,
never more than the page's density suggests the rest holds pages, and none for a rest shorter than
``MIN_SPLIT_SECONDS`` (a dense second or minute is drained with the cursor instead). Every range
ends with a partly filled page, so splitting only as far as concurrency needs keeps most pages full.

Everything here is pure and deterministic: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIN_SPLIT_SECONDS = 30
MAX_PARTS = 16


@dataclass(frozen=True, slots=True)
class Range:
    """``[gte, lt)`` in unix seconds, plus the ``starting_after`` cursor to resume inside it."""

    gte: int
    lt: int
    cursor: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """What subdivision needs from one fetched page of a range."""

    count: int
    has_more: bool
    last_id: str | None
    oldest_created: int | None  # ``created`` of the page's last (oldest) object, if it has one


@dataclass(frozen=True, slots=True)
class PageOutcome:
    """What replaces the fetched range: the ranges still to read (none: the range is done), and
    the part of the time range now known to be fully read (for ``range_complete`` telemetry)."""

    remaining: tuple[Range, ...]
    completed: Range | None


def split(
    gte: int, end: int, cursor: str | None, parts: int, *, min_span: int = MIN_SPLIT_SECONDS
) -> tuple[Range, ...]:
    """``[gte, end)`` in at most ``parts`` contiguous ranges of at least ``min_span`` seconds each;
    only the last (newest) one carries ``cursor``."""
    span = end - gte
    parts = max(1, min(parts, span // max(1, min_span)))
    if parts == 1:
        return (Range(gte, end, cursor),)
    bounds = [gte + span * i // parts for i in range(parts)] + [end]
    children = [Range(bounds[i], bounds[i + 1]) for i in range(parts - 1)]
    children.append(Range(bounds[-2], end, cursor))
    return tuple(children)


def after_page(
    fetched: Range,
    page: Page,
    *,
    parts: int = 1,
    ordered_by_created: bool = True,
    min_span: int = MIN_SPLIT_SECONDS,
) -> PageOutcome:
    """The ranges that replace ``fetched`` once ``page`` of it has been read.

    ``ordered_by_created`` says the server filtered the page by ``created`` (so everything after the
    cursor is older than the page); without it the range is only continued with the cursor.
    A page that says ``has_more`` without a last id cannot be continued and ends the range.
    """
    if not page.has_more or page.last_id is None:
        return PageOutcome(remaining=(), completed=fetched)
    if not ordered_by_created or page.oldest_created is None:
        return PageOutcome(remaining=(Range(fetched.gte, fetched.lt, page.last_id),), completed=None)
    # Clamp into the range: a server that ignored the filter must not widen it.
    end = min(max(page.oldest_created + 1, fetched.gte + 1), fetched.lt)
    completed = Range(end, fetched.lt) if end < fetched.lt else None
    remaining = split(fetched.gte, end, page.last_id, parts, min_span=min_span)
    return PageOutcome(remaining=remaining, completed=completed)


def estimated_pages(fetched: Range, page: Page, page_size: int) -> float | None:
    """How many pages the rest of ``fetched`` may hold, if it were as dense as this page (an upper
    bound in practice: accounts grow, so older time is sparser). None when the page gives no rate."""
    if page.oldest_created is None or page.count == 0:
        return None
    head_seconds = fetched.lt - page.oldest_created
    rest_seconds = page.oldest_created + 1 - fetched.gte
    if head_seconds <= 1:
        return None  # a page from one second says nothing about the density elsewhere
    return page.count * rest_seconds / head_seconds / page_size


def split_parts(*, open_ranges: int, target: int, estimate: float | None, max_parts: int = MAX_PARTS) -> int:
    """Parts for the rest of a range: enough to bring the lane's open ranges up to ``target``.

    ``open_ranges`` counts the range just fetched; ``estimate`` (pages in the rest) caps the split
    so a sparse rest is not cut into ranges that come back empty.
    """
    room = target - open_ranges + 1
    parts = max(1, min(room, max_parts))
    if estimate is not None:
        parts = min(parts, max(1, math.ceil(estimate)))
    return parts
