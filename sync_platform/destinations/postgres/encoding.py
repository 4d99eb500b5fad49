"""Turns one record into one line of COPY text for the staging table, fast and without surprises.

The hot path of every write: one JSON encoding per record (a reused encoder, since ``json.dumps``
with options builds a new one per call), a few field reads, one f-string. Values PostgreSQL cannot
store are repaired first, with a warning, rather than failing the batch: NUL characters and lone
surrogates (no PostgreSQL text can hold them) become U+FFFD, NaN and infinities (no JSON can) become
null. Python types that are not JSON (datetimes, Decimals...) are written in their usual JSON form.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from sync_platform.destinations.postgres.errors import RecordContractError
from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn
from sync_platform.destinations.postgres.type_rules import (
    ACCEPTS,
    FAST_TYPES,
    ColumnKind,
    normalize_date_time,
)

NULL = "\\N"
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def copy_text(value: str) -> str:
    """``value`` escaped for COPY's text format."""
    if _COPY_SPECIAL.search(value) is None:
        return value
    return _COPY_SPECIAL.sub(lambda m: _COPY_ESCAPES[m.group()], value)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


_encode_json = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_json_default
).encode


def sanitize(value: Any) -> Any:
    """A copy of ``value`` that PostgreSQL can store: see the module docstring."""
    if isinstance(value, str):
        return _UNSTORABLE.sub(REPLACEMENT, value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {sanitize(str(k)): sanitize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [sanitize(v) for v in value]
    return value


def _needs_repair(text: str) -> bool:
    """Does the encoded JSON hold a NUL (escaped by the encoder) or a lone surrogate?"""
    if "\\u0000" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return True
    return False


def encode_json(data: Any) -> tuple[str, Any, bool]:
    """``(json_text, data, repaired)``: the compact JSON of ``data``, repaired when it had to be."""
    try:
        text = _encode_json(data)
    except ValueError:  # NaN or infinity
        text = ""
    if text and not _needs_repair(text):
        return text, data, False
    repaired = sanitize(data)
    return _encode_json(repaired), repaired, True


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else _encode_json(value)


def _seconds(value: Any) -> float | None:
    """Unix seconds from a number or an ISO-8601 text; None for anything else."""
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        return value
    normalized = normalize_date_time(value)
    if normalized is not None:
        return datetime.fromisoformat(normalized).timestamp()
    return None


@dataclass(frozen=True)
class Mismatch:
    """A non-null value that its typed column cannot hold (the column gets NULL)."""

    column: TypedColumn
    value: Any


@dataclass(frozen=True)
class EncodedRecord:
    line: str
    key: tuple[str, ...]
    data: dict[str, Any]
    """The record as stored: the input itself, or its repaired copy."""
    repaired: bool


class RecordEncoder:
    """Encodes the records of one stream for its staging table.

    The staging columns are: the key columns, ``_deleted``, ``_updated_at`` (unix seconds), the raw
    JSON, then one normalized text per date-time column (``staged_date_times``).
    """

    def __init__(self, layout: StreamLayout, columns: list[TypedColumn]) -> None:
        self.layout = layout
        self.key_paths = [column.path for column in layout.key]
        self.staged_date_times = [c for c in columns if c.kind is ColumnKind.DATE_TIME]
        self._checks = [(column, *FAST_TYPES[column.kind]) for column in columns if column.kind in FAST_TYPES]
        self._reported: set[str] = set()

    def encode(self, data: dict[str, Any], *, deleted: bool) -> EncodedRecord:
        """One COPY line for ``data``; raises ``RecordContractError`` when it has no key or time."""
        text, data, repaired = encode_json(data)
        key = tuple(self._key_value(data, path) for path in self.key_paths)
        seconds = _seconds(data.get(self.layout.newer_than_field))
        if seconds is None:
            raise RecordContractError(
                self.layout.stream,
                f"record {list(key)} has no usable `{self.layout.newer_than_field}` "
                f"(got {type(data.get(self.layout.newer_than_field)).__name__})",
            )
        fields = [copy_text(part) for part in key]
        fields += ["t" if deleted else "f", repr(seconds), text.replace("\\", "\\\\")]
        for column in self.staged_date_times:
            normalized = normalize_date_time(data.get(column.field))
            fields.append(NULL if normalized is None else normalized)
        return EncodedRecord("\t".join(fields) + "\n", key, data, repaired)

    def inspect(self, data: dict[str, Any]) -> tuple[list[TypedColumn], list[Mismatch]]:
        """The columns whose value in ``data`` needs the guarded SQL path, and the mismatches.

        A mismatch is a non-null value its typed column will hold as NULL; each column reports one
        mismatch per encoder (one warning per column per write).
        """
        guarded: list[TypedColumn] = []
        found: list[Mismatch] = []
        for column, types, bounds in self._checks:
            value = data.get(column.field)
            if value is None or (
                type(value) in types and (bounds is None or bounds[0] <= value <= bounds[1])
            ):
                continue
            guarded.append(column)
            if column.name not in self._reported and not ACCEPTS[column.kind](value):
                self._reported.add(column.name)
                found.append(Mismatch(column, value))
        for column in self.staged_date_times:  # parsed client-side: never guarded, maybe mismatched
            value = data.get(column.field)
            if value is not None and column.name not in self._reported and normalize_date_time(value) is None:
                self._reported.add(column.name)
                found.append(Mismatch(column, value))
        return guarded, found

    def _key_value(self, data: dict[str, Any], path: tuple[str, ...]) -> str:
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            raise RecordContractError(
                self.layout.stream, f"primary key field {'.'.join(path)!r} is missing or null"
            )
        return _key_text(value)
