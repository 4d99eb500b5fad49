"""The pydantic base shared by every wire model of the NDJSON protocol."""

from __future__ import annotations

from typing import Any, Self

from pydantic import BaseModel, ConfigDict

_new = object.__new__
_set = object.__setattr__


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

    @classmethod
    def trusted(cls, values: dict[str, Any], fields_set: set[str] | None = None) -> Self:
        """An instance of ``values`` as they are: every field, already typed, no validation.

        For the few messages made once per record or checkpoint (``factories.record``,
        ``stream_state``), where even pydantic's ``model_construct`` cost ~3.5 µs each (it walks
        every field for aliases and defaults), a third of a small record's way through the engine.
        ``values`` must name every field by its Python name; the instance equals and serializes
        like a validated one (tested). ``fields_set`` (default: every field) is what
        ``model_fields_set`` reports: the fields a validated instance would have been given.
        """
        model = _new(cls)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", set(values) if fields_set is None else fields_set)
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model
