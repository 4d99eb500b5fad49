"""The pydantic base shared by every wire model of the NDJSON protocol."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    """Base of every message and payload: immutable, and tolerant of keys that newer peers add.

    ``extra="ignore"`` matches the reference engine, which strips unknown keys instead of failing, so a
    newer connector can add a field without breaking an older engine. ``frozen`` is shallow: dicts and
    lists inside a model can still be mutated, which is why checkpoints are deep-copied when emitted.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict form, with wire aliases (``_ts``, ``recordDeleted``) and no null fields."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
