"""Stripe's list semantics over a sorted index: newest first, cursors, ``created`` ranges, ``has_more``.

Objects are kept in ascending ``(created, id)`` order and pages are read from the end, so the
API order is ``created`` descending, then ``id`` descending, as Stripe's. Every bound is a
``bisect`` and a page is one slice, so serving a page costs O(log n + limit) whatever the size
of the collection.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sync_platform.emulator.errors import ApiError, invalid_parameter

SortKey = tuple[int, str]
DEFAULT_LIMIT = 10
MAX_LIMIT = 100
CREATED_OPERATORS = ("gt", "gte", "lt", "lte")


class SortedIndex:
    """``(created, id)`` keys in ascending order."""

    def __init__(self, keys: list[SortKey] | None = None) -> None:
        self.keys: list[SortKey] = sorted(keys or [])

    def __len__(self) -> int:
        return len(self.keys)

    def add(self, key: SortKey) -> None:
        bisect.insort(self.keys, key)

    def remove(self, key: SortKey) -> None:
        position = bisect.bisect_left(self.keys, key)
        if position < len(self.keys) and self.keys[position] == key:
            del self.keys[position]

    def newest_first(self) -> list[SortKey]:
        return self.keys[::-1]


@dataclass(frozen=True)
class CreatedRange:
    """A ``created`` filter as half-open integer bounds ``[low, high)`` (None = unbounded)."""

    low: int | None = None
    high: int | None = None

    def contains(self, created: int) -> bool:
        return (self.low is None or created >= self.low) and (self.high is None or created < self.high)


@dataclass(frozen=True)
class PageRequest:
    """The paging parameters of one list call, validated."""

    limit: int = DEFAULT_LIMIT
    created: CreatedRange = CreatedRange()
    starting_after: str | None = None
    ending_before: str | None = None


def parse_page_request(params: Mapping[str, Any], *, allow_created: bool = True) -> PageRequest:
    """Validate ``limit``, ``created`` and the cursors the way Stripe does (400s with its messages)."""
    limit = _parse_limit(params.get("limit"))
    starting_after, ending_before = params.get("starting_after"), params.get("ending_before")
    if starting_after is not None and ending_before is not None:
        raise ApiError(
            400,
            "You may only specify one of these parameters: ending_before, starting_after.",
            code="parameter_invalid_string",
            param="ending_before",
        )
    created = CreatedRange()
    if "created" in params:
        if not allow_created:
            raise ApiError(
                400, "Received unknown parameter: created", code="parameter_unknown", param="created"
            )
        created = _parse_created(params["created"])
    return PageRequest(
        limit=limit,
        created=created,
        starting_after=_cursor(starting_after, "starting_after"),
        ending_before=_cursor(ending_before, "ending_before"),
    )


def _parse_limit(raw: Any) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        raise invalid_parameter("limit", "Invalid integer: limit") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid_parameter(
            "limit", f"This value must be between 1 and {MAX_LIMIT} (it currently is {limit})."
        )
    return limit


def _parse_created(raw: Any) -> CreatedRange:
    """``created=123`` (exact second) or ``created[gt|gte|lt|lte]``, as unix seconds."""
    if isinstance(raw, str):
        exact = _integer(raw, "created")
        return CreatedRange(exact, exact + 1)
    if not isinstance(raw, dict):
        raise invalid_parameter("created", "Invalid created: must be an integer or a hash of gt/gte/lt/lte.")
    low: int | None = None
    high: int | None = None
    for operator, value in raw.items():
        if operator not in CREATED_OPERATORS:
            raise ApiError(400, f"Received unknown parameter: created[{operator}]", code="parameter_unknown",
                           param=f"created[{operator}]")  # fmt: skip
        bound = _integer(value, f"created[{operator}]")
        match operator:
            case "gt":
                low = bound + 1 if low is None else max(low, bound + 1)
            case "gte":
                low = bound if low is None else max(low, bound)
            case "lt":
                high = bound if high is None else min(high, bound)
            case "lte":
                high = bound + 1 if high is None else min(high, bound + 1)
    return CreatedRange(low, high)


def _integer(raw: Any, param: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise invalid_parameter(param, f"Invalid integer: {raw}") from None


def _cursor(raw: Any, param: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw:
        raise ApiError(
            400, f"Invalid {param}: must be an object id.", code="parameter_invalid_string", param=param
        )
    return raw


def select_page(
    index: SortedIndex,
    request: PageRequest,
    *,
    cursor_key: SortKey | None = None,
) -> tuple[list[SortKey], bool]:
    """The keys of one page, newest first, and whether more exist beyond it in the paging direction.

    ``cursor_key`` is the sort key of the ``starting_after``/``ending_before`` object.
    """
    keys = index.keys
    created = request.created
    low = 0 if created.low is None else bisect.bisect_left(keys, (created.low,))
    high = len(keys) if created.high is None else bisect.bisect_left(keys, (created.high,))
    if request.ending_before is not None and cursor_key is not None:
        start = max(low, bisect.bisect_right(keys, cursor_key))
        stop = min(high, start + request.limit)
        return keys[start:stop][::-1], stop < high
    end = high
    if request.starting_after is not None and cursor_key is not None:
        end = min(high, bisect.bisect_left(keys, cursor_key))
    start = max(low, end - request.limit)
    return keys[start:end][::-1], start > low
