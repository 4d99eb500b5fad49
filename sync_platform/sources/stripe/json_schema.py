"""A stream's JSON schema from its SDK fields, following ``docs/json-schema-conventions.md``.

Only top-level properties are typed: nested objects are ``object`` without ``properties``, since
destinations store them as JSON and the raw record keeps them whole. ``deleted`` is left out (the
engine strips it from records; tombstones travel as ``recordDeleted``), and ``required`` names only
the key and platform fields, because a tombstone (``{"id", "object", "deleted"}``) lacks the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sync_platform.sources.stripe.field_model import FieldDefinition, FieldKind, FieldType

ACCOUNT_ID_FIELD = "_account_id"
UPDATED_AT_FIELD = "_updated_at"
UNIX_TIME_FORMAT = "unix-time"
OMITTED_FIELDS = frozenset({"deleted"})
_JSON_TYPES = {
    FieldKind.STRING: "string",
    FieldKind.DECIMAL: "string",  # Stripe sends decimals as strings ("1000.25")
    FieldKind.INTEGER: "integer",
    FieldKind.NUMBER: "number",
    FieldKind.BOOLEAN: "boolean",
    FieldKind.OBJECT: "object",
    FieldKind.ARRAY: "array",
    FieldKind.LIST: "object",
}


def property_schema(field_type: FieldType, description: str | None = None) -> dict[str, Any]:
    """The JSON schema of one property (nullable as ``["T", "null"]``, never ``anyOf``)."""
    schema: dict[str, Any] = {}
    json_type = _JSON_TYPES.get(field_type.kind)
    if json_type is not None:  # FieldKind.ANY: a value whose type the SDK does not pin down
        schema["type"] = [json_type, "null"] if field_type.nullable else json_type
    if field_type.kind is FieldKind.INTEGER and field_type.unix_time:
        schema["format"] = UNIX_TIME_FORMAT
    if field_type.enum:
        schema["enum"] = [*field_type.enum, None] if field_type.nullable else list(field_type.enum)
    if field_type.expandable:
        schema["x-expandable-reference"] = True
    if field_type.kind is FieldKind.LIST:
        schema["x-stripe-list"] = True
    if field_type.kind is FieldKind.ARRAY and field_type.item is not None:
        schema["items"] = property_schema(field_type.item)
    if description:
        schema["description"] = description
    return schema


def record_schema(fields: Iterable[FieldDefinition], *, description: str | None = None) -> dict[str, Any]:
    """The schema of one record: the object's fields plus ``_account_id`` and ``_updated_at``.

    ``_account_id`` is a plain string here; ``stamp_account_ids`` narrows it to the synced accounts.
    """
    by_name = {f.name: f for f in fields if f.name not in OMITTED_FIELDS}
    ordered = sorted(by_name, key=lambda name: (name != "id", name))
    properties = {name: property_schema(by_name[name].type, by_name[name].description) for name in ordered}
    properties["id"] = {**properties.get("id", {}), "type": "string"}
    properties[ACCOUNT_ID_FIELD] = {
        "type": "string",
        "description": "The Stripe account the object belongs to.",
    }
    properties[UPDATED_AT_FIELD] = {
        "type": "number",
        "format": UNIX_TIME_FORMAT,
        "description": "When this version of the object was current (orders versions of one object).",
    }
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = properties
    schema["required"] = ["id", ACCOUNT_ID_FIELD, UPDATED_AT_FIELD]
    return schema


def admitted_account_ids(account_ids: Iterable[str]) -> list[str]:
    """The ``enum`` of ``_account_id`` for ``account_ids``: sorted, each once. Made once per
    catalog and shared by its streams' schemas (a 10,000-account platform's was ~80 KB a stream)."""
    return sorted(set(account_ids))


def stamp_account_ids(schema: dict[str, Any], admitted: list[str]) -> dict[str, Any]:
    """A copy of ``schema`` whose ``_account_id`` admits only ``admitted`` (``admitted_account_ids``;
    destinations may check it)."""
    account_property = {**schema["properties"][ACCOUNT_ID_FIELD], "enum": admitted}
    return {**schema, "properties": {**schema["properties"], ACCOUNT_ID_FIELD: account_property}}
