"""The pydantic base shared by every wire model of the NDJSON protocol."""

from __future__ import annotations

from collections.abc import Mapping
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

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """``BaseModel.model_copy``, in a third of its time for the shallow copy every fold makes.

        The engine copies messages and progress with ``update`` several times per checkpoint
        (``tag``, ``reduce_progress``, ``reduce_state``); pydantic's generic copy cost ~1.8 µs of
        which most goes to steps a wire model never needs (copying extra and private attributes,
        which ``extra="ignore"`` and no private attribute leave empty). Same result: ``update``
        is applied unvalidated and its keys join the fields set. A deep copy, or a model with extra
        or private attributes, takes pydantic's way.
        """
        if (
            deep
            or self.__pydantic_extra__ is not None
            or self.__pydantic_private__ is not None
            or self.model_config.get("extra") == "allow"
        ):
            return super().model_copy(update=update, deep=deep)
        model = _new(type(self))
        if update:
            _set(model, "__dict__", {**self.__dict__, **update})
            _set(model, "__pydantic_fields_set__", {*self.__pydantic_fields_set__, *update})
        else:
            _set(model, "__dict__", self.__dict__.copy())
            _set(model, "__pydantic_fields_set__", self.__pydantic_fields_set__.copy())
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        return model
