"""The typed model of an SDK object's fields: kinds, types and definitions, without the SDK.

``sdk_fields`` builds these from the ``stripe`` SDK's annotations; the JSON schemas
(``json_schema``), the stream definitions and the emulator read them. They live apart from the
reader so that what only needs the model (every ``sync-batch``, through the stream definitions and
their schemas) does not import the SDK (~0.25 s of CPU) to get three small classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FieldKind(StrEnum):
    STRING = "string"
    DECIMAL = "decimal"  # a decimal number sent as a string ("1000.25"), typed ``Decimal`` in the SDK
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    OBJECT = "object"
    ARRAY = "array"
    LIST = "list"  # a Stripe list object: {"object": "list", "data": [...], "has_more", "url"}
    ANY = "any"


@dataclass(frozen=True)
class FieldType:
    """One attribute's type.

    ``references`` are the resource classes an id or embedded object can stand for;
    ``inner`` is the nested ``StripeObject`` class whose fields make up an object value; ``item`` is
    the element type of an array or Stripe list, or the value type of a map (``metadata``).
    """

    kind: FieldKind
    nullable: bool = False
    enum: tuple[str | int | bool, ...] = ()
    open_enum: bool = False
    expandable: bool = False
    unix_time: bool = False
    references: tuple[type, ...] = ()
    inner: type | None = None
    item: FieldType | None = None


@dataclass(frozen=True)
class FieldDefinition:
    """One attribute of an SDK object class."""

    name: str
    type: FieldType
    description: str | None = field(default=None, compare=False)
