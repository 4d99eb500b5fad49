"""A stream's table layout, derived from its catalog entry alone: key, system and typed columns.

This is the pure half of setup (no database): DDL, the write path and Dagster's column schemas all
start from the same ``StreamLayout``, so they cannot disagree about a column's name or type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sync_platform.destinations.postgres.errors import StreamLayoutError
from sync_platform.destinations.postgres.naming import (
    ACCOUNT_ID,
    INTERNAL_TABLES,
    RAW_DATA,
    SYNCED_AT,
    UPDATED_AT,
    column_name,
    table_name,
)
from sync_platform.destinations.postgres.type_rules import ColumnKind
from sync_platform.protocol import Stream


@dataclass(frozen=True)
class TypedColumn:
    """A column holding one top-level field of the record, typed (NULL when the value does not fit)."""

    field: str
    name: str
    kind: ColumnKind
    description: str | None = None

    @property
    def pg_type(self) -> str:
        return self.kind.pg_type


@dataclass(frozen=True)
class KeyColumn:
    """A primary-key column: the value at ``path`` in the record, as text."""

    path: tuple[str, ...]
    name: str


@dataclass(frozen=True)
class ColumnDescription:
    """One column as Dagster's column schema (and the docs) show it."""

    name: str
    type: str
    description: str
    nullable: bool = True
    primary_key: bool = False


@dataclass(frozen=True)
class StreamLayout:
    """Everything about one stream's table that the catalog decides."""

    stream: str
    table: str
    key: tuple[KeyColumn, ...]
    newer_than_field: str
    columns: tuple[TypedColumn, ...]
    skipped_fields: dict[str, str] = field(default_factory=dict)
    """Fields that get no typed column (they stay in ``_raw_data``), with the reason."""

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.key)


def property_kind(schema: Any) -> ColumnKind:
    """The column kind for a property's JSON schema (see docs/json-schema-conventions.md)."""
    if not isinstance(schema, dict):
        return ColumnKind.ANY
    if schema.get("x-expandable-reference"):
        return ColumnKind.REFERENCE
    for union in ("anyOf", "oneOf"):  # tolerated for nullability: exactly one non-null branch
        branches = schema.get(union)
        if isinstance(branches, list):
            real = [b for b in branches if not (isinstance(b, dict) and b.get("type") == "null")]
            return property_kind(real[0]) if len(real) == 1 else ColumnKind.ANY
    declared = schema.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or [])
    types.discard("null")
    fmt = schema.get("format")
    if types <= {"integer", "number"} and types and fmt == "unix-time":
        return ColumnKind.UNIX_TIME
    if types == {"integer"}:
        return ColumnKind.BIGINT
    if types <= {"integer", "number"} and types:
        return ColumnKind.NUMERIC
    if types == {"string"}:
        return ColumnKind.DATE_TIME if fmt == "date-time" else ColumnKind.TEXT
    if types == {"boolean"}:
        return ColumnKind.BOOLEAN
    if types and types <= {"object", "array"}:
        return ColumnKind.JSON
    return ColumnKind.ANY


def _key_columns(stream: Stream) -> tuple[KeyColumn, ...]:
    paths = [tuple(path) for path in stream.primary_key if path]
    if not paths:
        raise StreamLayoutError(
            f"Stream {stream.name!r} has no primary key. The postgres destination upserts by primary "
            "key; give the stream a `primary_key` (e.g. [['id']]) in its catalog."
        )
    return tuple(KeyColumn(path=path, name=column_name(".".join(path))) for path in paths)


def stream_layout(stream: Stream) -> StreamLayout:
    """Lay out ``stream``: its table name, key columns and one typed column per schema property."""
    table = table_name(stream.name)
    if table in INTERNAL_TABLES:
        raise StreamLayoutError(
            f"Stream {stream.name!r} would use the table name {table!r}, which the postgres destination "
            "keeps for its own bookkeeping. Rename the stream or sync it into another destination."
        )
    key = _key_columns(stream)
    taken = {column.name for column in key} | {RAW_DATA, UPDATED_AT, SYNCED_AT}
    columns: list[TypedColumn] = []
    skipped: dict[str, str] = {}
    if ACCOUNT_ID not in taken:  # every table has `_account_id`, keyed or not
        columns.append(TypedColumn(ACCOUNT_ID, ACCOUNT_ID, ColumnKind.TEXT, "Stripe account of the object."))
        taken.add(ACCOUNT_ID)
    properties = (stream.json_schema or {}).get("properties") or {}
    key_fields = {path[0] for path in (k.path for k in key) if len(path) == 1}
    for name, schema in properties.items():
        if name in key_fields or name == ACCOUNT_ID:
            continue
        if name == UPDATED_AT:
            continue  # the system column of that name holds it, as a timestamp
        column = column_name(name)
        if column in taken:
            skipped[name] = f"its column name {column!r} is taken by a system or earlier column"
            continue
        taken.add(column)
        description = schema.get("description") if isinstance(schema, dict) else None
        columns.append(TypedColumn(name, column, property_kind(schema), description))
    return StreamLayout(
        stream=stream.name,
        table=table,
        key=key,
        newer_than_field=stream.newer_than_field,
        columns=tuple(columns),
        skipped_fields=skipped,
    )


def describe_columns(stream: Stream) -> list[ColumnDescription]:
    """The columns setup creates for ``stream``, in table order (for Dagster column schemas)."""
    layout = stream_layout(stream)
    described = [
        ColumnDescription(k.name, "text", f"Primary key: record field {'.'.join(k.path)}.", False, True)
        for k in layout.key
    ]
    described += [
        ColumnDescription(
            UPDATED_AT,
            "timestamptz",
            f"Source time of this version (from `{layout.newer_than_field}`).",
            False,
        ),
        ColumnDescription(SYNCED_AT, "timestamptz", "When this version was written here.", False),
    ]
    described += [
        ColumnDescription(c.name, c.pg_type, c.description or f"Record field {c.field!r}.")
        for c in layout.columns
    ]
    described.append(ColumnDescription(RAW_DATA, "jsonb", "The whole record as received.", False))
    return described
