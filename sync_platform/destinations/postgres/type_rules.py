"""Which JSON values each typed column accepts, written once for SQL and once for Python.

A typed column is a convenience view of ``_raw_data``: it holds a field's value when the value has
the declared type and NULL otherwise, so a surprising value never fails a batch (the raw JSON keeps
it). The SQL side computes the column inside the upsert and must never raise; the Python side
decides, per record, whether the SQL side will have dropped a non-null value, so the writer can
warn once per column. The two halves below must agree, value for value; the tests pin that.

SQL reads a column one of two ways. The guarded way (``sql_value``) inspects the jsonb value and
never raises, whatever it holds. The fast way (``sql_fast_value``) lets ``jsonb_to_record`` convert
the field with the column type's own input function, which is several times cheaper but raises on a
value of the wrong shape, so it is used only for a batch in which Python saw no value of that column
outside ``FAST_TYPES`` (the usual case: a source that sticks to its schema).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from psycopg import sql

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Unix seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years both Python and every
# PostgreSQL build represent, so a conversion inside this range cannot overflow.
UNIX_MIN, UNIX_MAX = -62135596800, 253402300799


class ColumnKind(StrEnum):
    """How a typed column reads its field; several kinds can share one PostgreSQL type."""

    TEXT = "text"
    REFERENCE = "reference"  # x-expandable-reference: an id string, or an object with an `id`
    BOOLEAN = "boolean"
    BIGINT = "bigint"
    NUMERIC = "numeric"
    UNIX_TIME = "unix_time"  # integer/number with format unix-time
    DATE_TIME = "date_time"  # string with format date-time
    JSON = "json"  # object or array
    ANY = "any"  # no single declared type: any non-null JSON value

    @property
    def pg_type(self) -> str:
        return _PG_TYPES[self]

    @property
    def accepted(self) -> str:
        """The values the column keeps, in words (for warnings)."""
        return _ACCEPTED[self]


_PG_TYPES = {
    ColumnKind.TEXT: "text",
    ColumnKind.REFERENCE: "text",
    ColumnKind.BOOLEAN: "boolean",
    ColumnKind.BIGINT: "bigint",
    ColumnKind.NUMERIC: "numeric",
    ColumnKind.UNIX_TIME: "timestamptz",
    ColumnKind.DATE_TIME: "timestamptz",
    ColumnKind.JSON: "jsonb",
    ColumnKind.ANY: "jsonb",
}

_ACCEPTED = {
    ColumnKind.TEXT: "strings",
    ColumnKind.REFERENCE: "ids (a string, or an object with a string `id`)",
    ColumnKind.BOOLEAN: "booleans",
    ColumnKind.BIGINT: "whole numbers within 64 bits",
    ColumnKind.NUMERIC: "numbers",
    ColumnKind.UNIX_TIME: "unix seconds from year 1 to 9999",
    ColumnKind.DATE_TIME: "RFC 3339 date-time strings",
    ColumnKind.JSON: "objects or arrays",
    ColumnKind.ANY: "any non-null JSON value",
}

# The kind a column of an existing table is read with when its type no longer matches the catalog.
KIND_FOR_EXISTING_TYPE = {
    "text": ColumnKind.TEXT,
    "boolean": ColumnKind.BOOLEAN,
    "bigint": ColumnKind.BIGINT,
    "numeric": ColumnKind.NUMERIC,
    "timestamp with time zone": ColumnKind.UNIX_TIME,
    "jsonb": ColumnKind.ANY,
}
PG_TYPE_ALIASES = {"timestamptz": "timestamp with time zone"}


# --- SQL ---------------------------------------------------------------------------------------------


def sql_value(kind: ColumnKind, value: sql.Composable, staged_date_time: sql.Composable) -> sql.Composable:
    """An expression giving the typed value of ``value`` (a jsonb expression), or NULL; never raises.

    ``staged_date_time`` is the staging column where Python already put a normalized ISO-8601 text
    (or NULL): PostgreSQL has no portable "try to parse a timestamp", so that one kind is parsed
    client-side.
    """
    template = _SQL_TEMPLATES[kind]
    if kind is ColumnKind.DATE_TIME:
        return sql.SQL(template).format(d=staged_date_time)
    return sql.SQL(template).format(v=value)


_SQL_TEMPLATES = {
    ColumnKind.TEXT: "CASE WHEN jsonb_typeof({v}) = 'string' THEN {v} #>> '{{}}' END",
    ColumnKind.REFERENCE: (
        "CASE jsonb_typeof({v}) WHEN 'string' THEN {v} #>> '{{}}' "
        "WHEN 'object' THEN CASE WHEN jsonb_typeof({v} -> 'id') = 'string' THEN {v} ->> 'id' END END"
    ),
    ColumnKind.BOOLEAN: "CASE WHEN jsonb_typeof({v}) = 'boolean' THEN ({v})::boolean END",
    ColumnKind.BIGINT: (
        "CASE WHEN jsonb_typeof({v}) = 'number' AND ({v})::numeric = trunc(({v})::numeric) "
        f"AND ({{v}})::numeric BETWEEN {INT64_MIN} AND {INT64_MAX} THEN ({{v}})::numeric::bigint END"
    ),
    ColumnKind.NUMERIC: "CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::numeric END",
    ColumnKind.UNIX_TIME: (
        f"CASE WHEN jsonb_typeof({{v}}) = 'number' AND ({{v}})::numeric BETWEEN {UNIX_MIN} AND {UNIX_MAX} "
        "THEN to_timestamp(({v})::numeric::double precision) END"
    ),
    ColumnKind.DATE_TIME: "({d})::timestamptz",
    ColumnKind.JSON: "CASE WHEN jsonb_typeof({v}) IN ('object', 'array') THEN {v} END",
    ColumnKind.ANY: "CASE WHEN jsonb_typeof({v}) <> 'null' THEN {v} END",
}


def sql_fast_value(kind: ColumnKind, value: sql.Composable) -> sql.Composable:
    """The typed value of ``value``, a ``jsonb_to_record`` column of type ``FAST_RECORD_TYPES[kind]``."""
    if kind is ColumnKind.UNIX_TIME:
        return sql.SQL("to_timestamp({})").format(value)
    return value


FAST_RECORD_TYPES = {
    ColumnKind.TEXT: "text",
    ColumnKind.REFERENCE: "text",
    ColumnKind.BOOLEAN: "boolean",
    ColumnKind.BIGINT: "bigint",
    ColumnKind.NUMERIC: "numeric",
    ColumnKind.UNIX_TIME: "double precision",
    ColumnKind.JSON: "jsonb",
    ColumnKind.ANY: "jsonb",
}
"""How ``jsonb_to_record`` declares a column read the fast way (DATE_TIME is always staged)."""


# --- Python ------------------------------------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return type(value) is int or (type(value) is float and math.isfinite(value))


def _accepts_bigint(value: Any) -> bool:
    if type(value) is int:
        return INT64_MIN <= value <= INT64_MAX
    return type(value) is float and value.is_integer() and INT64_MIN <= value <= INT64_MAX


def _accepts_unix_time(value: Any) -> bool:
    return _is_number(value) and UNIX_MIN <= value <= UNIX_MAX


def _accepts_reference(value: Any) -> bool:
    return type(value) is str or (isinstance(value, dict) and type(value.get("id")) is str)


ACCEPTS: dict[ColumnKind, Callable[[Any], bool]] = {
    ColumnKind.TEXT: lambda value: type(value) is str,
    ColumnKind.REFERENCE: _accepts_reference,
    ColumnKind.BOOLEAN: lambda value: type(value) is bool,
    ColumnKind.BIGINT: _accepts_bigint,
    ColumnKind.NUMERIC: _is_number,
    ColumnKind.UNIX_TIME: _accepts_unix_time,
    ColumnKind.DATE_TIME: lambda value: normalize_date_time(value) is not None,
    ColumnKind.JSON: lambda value: isinstance(value, dict | list),  # subclasses too (OrderedDict)
    ColumnKind.ANY: lambda value: True,
}
"""``ACCEPTS[kind](value)`` for a non-null value: does the typed column keep it?"""


FAST_TYPES: dict[ColumnKind, tuple[frozenset[type], tuple[int, int] | None]] = {
    ColumnKind.TEXT: (frozenset({str}), None),
    ColumnKind.REFERENCE: (frozenset({str}), None),
    ColumnKind.BOOLEAN: (frozenset({bool}), None),
    ColumnKind.BIGINT: (frozenset({int}), (INT64_MIN, INT64_MAX)),
    ColumnKind.NUMERIC: (frozenset({int, float}), None),
    ColumnKind.UNIX_TIME: (frozenset({int, float}), (UNIX_MIN, UNIX_MAX)),
    ColumnKind.JSON: (frozenset({dict, list}), None),
}
"""Per kind: the Python types (and range) whose values the fast SQL path converts correctly.

Every such value is also accepted (``ACCEPTS``); ANY and DATE_TIME columns never need the guard."""


def json_type(value: Any) -> str:
    """The JSON type name of a Python value, for warnings."""
    if value is None:
        return "null"
    if type(value) is bool:
        return "boolean"
    if type(value) in (int, float):
        return "number"
    if type(value) is str:
        return "string"
    if type(value) is list:
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


# RFC 3339 date-times (plus a space separator or a missing offset, read as UTC). Anything looser is
# left in the raw JSON only: what PostgreSQL's lenient parser would make of it is not portable.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?)?"
)


def normalize_date_time(value: Any) -> str | None:
    """``value`` as an unambiguous ISO-8601 UTC text PostgreSQL parses, or None if it is no date-time."""
    if type(value) is not str:
        return None
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _, sign, off_h, off_m = match.groups()
    offset = UTC
    if sign is not None:
        delta = timedelta(hours=int(off_h), minutes=int(off_m))
        if delta >= timedelta(hours=24):
            return None
        offset = timezone(delta if sign == "+" else -delta)
    try:
        moment = datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=offset,
        ).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return moment.isoformat()
