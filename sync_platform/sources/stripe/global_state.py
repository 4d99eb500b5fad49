"""The source's global checkpoint during one read: updated by merging, emitted as deep copies.

The global state holds what spans streams: ``events_cursor`` and ``recent_event_ids`` (the events
poll), ``last_event`` (pushed events) and ``rebackfill`` (the horizon guard). Each part of the
source owns its keys and never drops the others': a global state replaces the stored one whole,
so writing only one's own keys would erase the rest.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from sync_platform.protocol import SourceStateMessage, global_state


class GlobalState:
    """A read's running global checkpoint, starting from the stored one."""

    def __init__(self, prior: Mapping[str, Any] | None) -> None:
        self._data: dict[str, Any] = copy.deepcopy(dict(prior or {}))

    def get(self, key: str) -> Any:
        return copy.deepcopy(self._data.get(key))

    def snapshot(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def update(self, values: Mapping[str, Any], *, remove: tuple[str, ...] = ()) -> SourceStateMessage:
        """Merge ``values`` (and drop ``remove``), and return the checkpoint to emit."""
        self._data.update(copy.deepcopy(dict(values)))
        for key in remove:
            self._data.pop(key, None)
        return global_state(copy.deepcopy(self._data))
