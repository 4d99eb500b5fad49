"""Turns one record into one line of COPY text for the staging table, fast and without surprises.

The hot path of every write: one JSON encoding per record (orjson, several times faster than the
standard library, which remains the fallback for what orjson refuses, such as integers beyond 64
bits), a few field reads, one join. Values PostgreSQL cannot store are repaired rather than failing
the batch: NUL characters and lone surrogates (no PostgreSQL text can hold them) become U+FFFD,
with a warning; NaN and infinities (JSON has no such numbers) become null. Python types that are
not JSON (Decimals, sets...) are written in their usual JSON form.
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import dataclass
from types import NoneType
from typing import Any, NamedTuple

import orjson

from sync_platform.destinations.postgres.errors import RecordContractError
from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn
from sync_platform.destinations.postgres.type_rules import (
    ACCEPTS,
    FAST_TYPES,
    ColumnKind,
    normalize_date_time,
)
from sync_platform.engine.destination_kit import MICROSECONDS, json_default, version_time
from sync_platform.storable_json import storable

NULL = b"\\N"
_ONLY_STR = frozenset({str})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def copy_text(value: str) -> str:
    """``value`` escaped for COPY's text format."""
    if _COPY_SPECIAL.search(value) is None:
        return value
    return _COPY_SPECIAL.sub(lambda m: _COPY_ESCAPES[m.group()], value)


_encode_json = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=json_default
).encode


def _dumps(data: Any) -> bytes:
    """Compact UTF-8 JSON; raises on lone surrogates, which UTF-8 cannot carry.

    Records parsed from JSON have only string keys, so the first attempt does without orjson's
    ``OPT_NON_STR_KEYS`` (which costs ~80 % more per record); a record built in Python with other
    keys takes the second.
    """
    try:
        return orjson.dumps(data, default=json_default)
    except TypeError:
        pass
    try:
        return orjson.dumps(data, default=json_default, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:  # an integer beyond 64 bits, a lone surrogate...: ask the standard library
        return _encode_json(data).encode()


def encode_json(data: Any) -> tuple[bytes, Any, bool]:
    """``(json, data, repaired)``: the compact JSON of ``data``, repaired when it had to be."""
    try:
        raw = _dumps(data)
    except (ValueError, UnicodeEncodeError):  # NaN for the standard library; lone surrogates
        raw = b""
    # A NUL is escaped as ``\u0000``. Looking for a backslash first costs a fifth of looking for
    # that six-byte text (~0.2 vs 1 µs in a 2 kB record), and most records have no escape at all.
    if raw and (b"\\" not in raw or b"\\u0000" not in raw):
        return raw, data, False
    repaired = storable(data)  # the platform's one repair rule (the version digest assumes it too)
    return _dumps(repaired), repaired, True


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else _encode_json(value)


def _seconds(value: Any) -> float | None:
    """Unix seconds of a version's time (the destination kit reads it), to the microsecond."""
    micros = version_time(value)
    return None if micros is None else micros / MICROSECONDS


@dataclass(frozen=True)
class Mismatch:
    """A non-null value that its typed column cannot hold (the column gets NULL)."""

    column: TypedColumn
    value: Any


class EncodedRecord(NamedTuple):
    """One record's COPY line and what the writer needs besides (a named tuple: made per record, it
    costs less than half of a frozen dataclass)."""

    line: bytes
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
        flat = all(len(path) == 1 for path in self.key_paths)
        self._key_fields = tuple(path[0] for path in self.key_paths) if flat else None
        self._newer_than = layout.newer_than_field
        self.staged_date_times = [c for c in columns if c.kind is ColumnKind.DATE_TIME]
        self._checked = [column for column in columns if column.kind in FAST_TYPES]
        self._fields = tuple(column.field for column in self._checked)
        # ``itemgetter`` reads every field in one C call, twice as fast as ``map(data.get, ...)``;
        # a stream whose records lack one of them (KeyError) goes back to ``get`` for good.
        self._read_fields = operator.itemgetter(*self._fields) if len(self._fields) > 1 else None
        self._fast_types = [FAST_TYPES[column.kind][0] for column in self._checked]
        self._fast_or_null = tuple(types | {NoneType} for types in self._fast_types)
        self._bounded: list[tuple[int, frozenset[type], int, int]] = [
            (index, FAST_TYPES[column.kind][0], bounds[0], bounds[1])
            for index, column in enumerate(self._checked)
            if (bounds := FAST_TYPES[column.kind][1]) is not None
        ]
        self._reported: set[str] = set()

    def encode(self, data: dict[str, Any], *, deleted: bool) -> EncodedRecord:
        """One COPY line for ``data``; raises ``RecordContractError`` when it has no key or time."""
        raw, data, repaired = encode_json(data)
        key = self._key(data)
        seconds = data.get(self._newer_than)
        if type(seconds) is not int:  # the common case (Stripe's unix seconds) costs one check
            seconds = _seconds(seconds)
            if seconds is None:
                raise RecordContractError(
                    self.layout.stream,
                    f"record {list(key)} has no usable `{self._newer_than}` "
                    f"(got {type(data.get(self._newer_than)).__name__})",
                )
        if _COPY_SPECIAL.search("".join(key)) is None:
            text_key = "\t".join(key)
        else:
            text_key = "\t".join(copy_text(part) for part in key)
        line = b"%s\t%s\t%s\t%s" % (
            text_key.encode(),
            b"t" if deleted else b"f",
            repr(seconds).encode(),
            raw.replace(b"\\", b"\\\\"),
        )
        fields = [line]
        for column in self.staged_date_times:
            normalized = normalize_date_time(data.get(column.field))
            fields.append(NULL if normalized is None else normalized.encode())
        return EncodedRecord(b"\t".join(fields) + b"\n", key, data, repaired)

    def inspect(self, data: dict[str, Any]) -> tuple[list[TypedColumn], list[Mismatch]]:
        """The columns whose value in ``data`` needs the guarded SQL path, and the mismatches.

        A record whose every typed field is null or of its column's fast types (the usual case)
        costs two C-level passes: one to read the fields, one to test each value's type against its
        column's; only otherwise are the fields walked one by one, and only numbers are compared with
        their column's range one by one. Nothing is remembered per pattern of types: objects whose
        nulls vary have one pattern per record (every charge, invoice and subscription of the
        end-to-end benchmark), and a cache of them held up to 4,096 per stream (~11 MB), so a
        sync's peak memory grew with its length. A mismatch is a non-null value its typed column
        will hold as NULL; each column reports one per encoder (one warning per column per write).
        """
        values = self._values(data)
        off: list[int]
        if all(map(frozenset.__contains__, self._fast_or_null, map(type, values))):
            off = []
        else:
            off = [
                index
                for index, (kind_types, value) in enumerate(zip(self._fast_types, values, strict=True))
                if value is not None and type(value) not in kind_types
            ]
        for index, kind_types, low, high in self._bounded:
            value: Any = values[index]  # a number of a fast type whenever the range is checked
            if type(value) in kind_types and not low <= value <= high:
                off.append(index)
        if not off and not self.staged_date_times:
            return [], []
        guarded = [self._checked[index] for index in off]
        found = [
            Mismatch(column, values[index])
            for index, column in zip(off, guarded, strict=True)
            if self._newly_wrong(column, values[index])
        ]
        for column in self.staged_date_times:  # parsed client-side: never guarded, maybe mismatched
            value = data.get(column.field)
            if value is not None and self._newly_wrong(column, value):
                found.append(Mismatch(column, value))
        return guarded, found

    def _values(self, data: dict[str, Any]) -> tuple[Any, ...]:
        """The value of each checked field in ``data``, None where it is missing."""
        read = self._read_fields
        if read is not None and type(data) is dict:  # a subclass may define __missing__
            try:
                return read(data)  # type: ignore[no-any-return]  # a tuple: itemgetter of 2+ fields
            except KeyError:
                self._read_fields = None
        return tuple(map(data.get, self._fields))

    def _newly_wrong(self, column: TypedColumn, value: Any) -> bool:
        if column.name in self._reported or ACCEPTS[column.kind](value):
            return False
        self._reported.add(column.name)
        return True

    def _key(self, data: dict[str, Any]) -> tuple[str, ...]:
        if self._key_fields is not None:
            key = tuple(map(data.get, self._key_fields))
            if _ONLY_STR.issuperset(map(type, key)):  # every part a str (in C: ~0.1 µs less)
                return key  # type: ignore[return-value]  # every part was just checked to be a str
        return tuple(self._key_value(data, path) for path in self.key_paths)

    def _key_value(self, data: dict[str, Any], path: tuple[str, ...]) -> str:
        value: Any = data
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is None:
            raise RecordContractError(
                self.layout.stream, f"primary key field {'.'.join(path)!r} is missing or null"
            )
        return _key_text(value)
