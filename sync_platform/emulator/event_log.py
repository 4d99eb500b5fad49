"""Each account's event log: newest first, filterable by ``type``, ``types[]`` and ``created``.

Stripe makes an event listable a little after its ``created`` second. While ``listing_held`` is
set, new events are recorded but left out of lists (``unlisted``) until ``release_listing``, so a
test can show a poll the events of a second in two parts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from sync_platform.emulator.errors import ApiError, resource_missing
from sync_platform.emulator.listing import PageRequest, SortedIndex, select_page
from sync_platform.emulator.objects import StoredObject, dumps, list_body

MAX_TYPES_FILTER = 20


class EventLog:
    """One account's events, newest first, filterable by type and ``created``."""

    def __init__(self) -> None:
        self.events: dict[str, StoredObject] = {}
        self.index = SortedIndex()
        self.listing_held = False
        self.unlisted: set[str] = set()

    def append(self, event: dict[str, Any]) -> StoredObject:
        stored = StoredObject(data=event, created=int(event["created"]))
        self.events[stored.id] = stored
        self.index.add(stored.key)
        if self.listing_held:
            self.unlisted.add(stored.id)
        return stored

    def release_listing(self) -> None:
        """List every event from now on, the held ones included."""
        self.listing_held = False
        self.unlisted.clear()

    def set_pending_webhooks(self, event_id: str, count: int) -> None:
        stored = self.events[event_id]
        self.events[event_id] = StoredObject(
            {**stored.data, "pending_webhooks": max(0, count)}, stored.created
        )

    def retrieve(self, event_id: str) -> bytes:
        stored = self.events.get(event_id)
        if stored is None:
            raise resource_missing("event", event_id)
        return _body(stored)

    def list_page(
        self, request: PageRequest, *, type_pattern: str | None, types: Sequence[str] | None
    ) -> bytes:
        index = self.index
        if type_pattern is not None or types is not None or self.unlisted:
            wanted = set(types or ())
            filtered = type_pattern is not None or types is not None
            index = SortedIndex(
                [
                    key
                    for key in self.index.keys
                    if key[1] not in self.unlisted
                    and (
                        not filtered
                        or _type_matches(str(self.events[key[1]].data["type"]), type_pattern, wanted)
                    )
                ]
            )
        cursor = request.starting_after or request.ending_before
        cursor_key = None
        if cursor is not None:
            if cursor not in self.events:
                raise resource_missing(
                    "event", cursor, param="starting_after" if request.starting_after else "ending_before"
                )
            cursor_key = self.events[cursor].key
        keys, has_more = select_page(index, request, cursor_key=cursor_key)
        return list_body(
            [_body(self.events[event_id]) for _, event_id in keys], has_more=has_more, url="/v1/events"
        )


def parse_type_filters(params: Mapping[str, Any]) -> tuple[str | None, list[str] | None]:
    """``type`` (exact, or with ``*`` wildcards such as ``invoice.*``) and ``types[]`` (exact, ≤ 20)."""
    type_pattern = params.get("type")
    types = params.get("types")
    if type_pattern is not None and types is not None:
        raise ApiError(400, "You may only specify one of these parameters: type, types.", param="types")
    if types is not None:
        if isinstance(types, str):
            types = [types]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise ApiError(400, "Invalid array: types", code="parameter_invalid_array", param="types")
        if len(types) > MAX_TYPES_FILTER:
            raise ApiError(400, f"types may contain at most {MAX_TYPES_FILTER} entries.", param="types")
    if type_pattern is not None and not isinstance(type_pattern, str):
        raise ApiError(400, "Invalid string: type", code="parameter_invalid_string", param="type")
    return type_pattern, types


def _type_matches(event_type: str, pattern: str | None, wanted: set[str]) -> bool:
    if pattern is not None:
        return fnmatch.fnmatchcase(event_type, pattern)
    return event_type in wanted


def _body(stored: StoredObject) -> bytes:
    if stored.body is None:
        stored.body = dumps(stored.data)
    return stored.body
