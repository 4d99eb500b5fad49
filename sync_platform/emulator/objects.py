"""One stored version of a Stripe object, and the JSON helpers every endpoint shares."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sync_platform.emulator.listing import SortKey


def dumps(value: Any) -> bytes:
    """Compact JSON, as Stripe sends it."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(slots=True)
class StoredObject:
    """One version of one object; ``body`` caches its JSON (with embedded lists) until it changes.

    Never changed in place apart from filling ``body``: a mutation stores a new instance.
    """

    data: dict[str, Any]
    created: int
    deleted: bool = False
    body: bytes | None = None

    @property
    def id(self) -> str:
        return str(self.data["id"])

    @property
    def key(self) -> SortKey:
        return (self.created, self.id)


def list_body(bodies: list[bytes], *, has_more: bool, url: str | None) -> bytes:
    """A Stripe list object built by joining already-serialized objects."""
    return b"".join(
        (
            b'{"object":"list","data":[',
            b",".join(bodies),
            b'],"has_more":',
            b"true" if has_more else b"false",
            b',"url":',
            dumps(url),
            b"}",
        )
    )


def reference_id(value: Any) -> str | None:
    """The id an expandable field holds: the string itself, or an expanded object's ``id``."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None
