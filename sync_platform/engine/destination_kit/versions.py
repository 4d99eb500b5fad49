"""The version order: which of two versions of one object a destination keeps, in every destination.

A record is one *version* of an object: live, or a tombstone (``recordDeleted``). Versions of one
object (one primary key) are ordered by three components, compared in this order; the greater wins:

1. ``time``: the stream's ``newer_than_field`` (``_updated_at`` for Stripe) as whole microseconds
   since the Unix epoch. The field holds unix seconds (an integer, or a number such as the Stripe
   source's ``created + 0.5`` for events) or ISO-8601 text (no offset means UTC).
2. ``deleted``: a tombstone beats a live version of the same time, so a same-second update never
   undoes a delete.
3. ``digest``: between two live versions of the same time, the one whose canonical JSON
   (``canonical_json``) has the greater SHA-256, as 64 lowercase hex digits compared bytewise. The
   choice is arbitrary but the same whatever order the versions arrive in, in every destination. A
   tombstone's digest is empty: two tombstones of the same time are the same version.

The canonical JSON is the text PostgreSQL's ``jsonb`` gives for the record as a destination can
store it (``storable_json``: NUL and lone surrogates become U+FFFD, NaN and infinities null): keys
ordered by their UTF-8 length, then bytewise; ``", "`` and ``": "`` between items; strings escaping
only ``"``, ``\\`` and control characters; numbers in PostgreSQL ``numeric``'s plain notation. A
SQL store therefore needs no column for it: ``sha256(convert_to(_raw_data::text, 'UTF8'))`` is the
digest, and since SQL compares row values left to right, it is computed only for two live versions
of the same time, i.e. never on the hot path.

A version is applied only when it is strictly greater than the object's current version (its row,
or its remembered tombstone), so an identical replay changes nothing; a tombstone is remembered
after its row is gone, so a late, older version cannot bring the object back (``decide``).

The order is written once, as ``Version`` (a named tuple, so Python's tuple comparison *is* the
rule), and a destination that compares versions in SQL renders the same components through
``VersionSql`` (``sql_beats``, ``sql_newest_first``), field for field.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple
from uuid import UUID

from sync_platform.protocol import RecordPayload
from sync_platform.storable_json import storable

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECONDS = 1_000_000
TOMBSTONE_DIGEST = ""


class Version(NamedTuple):
    """Where one version stands in the order; compare two with ``>`` (greater = newer)."""

    time: int
    """``newer_than_field`` in microseconds since the Unix epoch."""
    deleted: bool
    """A tombstone."""
    digest: str
    """SHA-256 hex of the live version's canonical JSON; empty for a tombstone."""


OLDEST = Version(-(2**63), False, "")
"""Below every real version: what a row whose version was never recorded counts as."""


class Change(StrEnum):
    """What applying one incoming version does; the values are the destinations' statistics names."""

    INSERT = "inserted"  # a row appears (a new object, or one whose remembered tombstone it beats)
    UPDATE = "updated"  # a row is replaced by a newer live version
    DELETE = "deleted"  # the row, if any, is gone and the tombstone is remembered (or moved forward)
    STALE = "skipped_stale"  # not newer than the current version: nothing changes


def decide(incoming: Version, current: Version | None) -> Change:
    """What ``incoming`` does to an object whose current version is ``current``.

    ``current`` is the row's version, or the remembered tombstone's (``deleted``), or None for an
    object the destination has never seen (whose tombstone, too, is remembered: deleting an
    unknown id guards against its late creation).
    """
    if current is not None and not incoming > current:
        return Change.STALE
    if incoming.deleted:
        return Change.DELETE
    return Change.UPDATE if current is not None and not current.deleted else Change.INSERT


# --- building versions ---------------------------------------------------------------------------


def json_default(value: Any) -> Any:
    """The JSON form of Python values that are not JSON (a record built in Python may hold them)."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=repr)
    return str(value)


_escape: Callable[[str], str] = json.encoder.encode_basestring  # type: ignore[attr-defined]
"""Quotes and escapes a string exactly as PostgreSQL's JSON output does: ``"``, ``\\``, ``\\b``,
``\\f``, ``\\n``, ``\\r``, ``\\t`` and other control characters as ``\\u00xx``; nothing else."""


def _numeric_text(value: float) -> str:
    """A float as PostgreSQL's ``numeric`` prints the shortest JSON spelling of it (no exponent)."""
    if not math.isfinite(value):
        return "null"
    number = Decimal(repr(value))
    return format(number.copy_abs() if number.is_zero() else number, "f")


def _ascii_order(key: str) -> tuple[int, str]:
    return len(key), key  # for ASCII keys, the same order as by UTF-8 length, then bytes


def _utf8_order(key: str) -> tuple[int, bytes]:
    encoded = key.encode("utf-8", "surrogatepass")
    return len(encoded), encoded


def _key_text(key: Any) -> str:
    """A non-string key as JSON encoders spell it (``true``, ``null``, ``1``)."""
    if key is None or isinstance(key, bool):
        return "null" if key is None else "true" if key else "false"
    return str(key)


def _object_text(value: dict[Any, Any]) -> str:
    if not all(type(key) is str for key in value):
        value = {_key_text(key): item for key, item in value.items()}
    keys = list(value)
    keys.sort(key=_ascii_order if all(map(str.isascii, keys)) else _utf8_order)
    return "{" + ", ".join([_escape(key) + ": " + _jsonb_text(value[key]) for key in keys]) + "}"


def _jsonb_text(value: Any) -> str:
    """``value`` as PostgreSQL prints it once stored as ``jsonb`` (exact types first: the hot path)."""
    kind = type(value)
    if kind is str:
        return _escape(value)
    if kind is dict:
        return _object_text(value)
    if kind is list:
        return "[" + ", ".join([_jsonb_text(item) for item in value]) + "]"
    if kind is int:
        return int.__repr__(value)
    if value is None or kind is bool:
        return "null" if value is None else "true" if value else "false"
    if kind is float:
        return _numeric_text(value)
    if isinstance(value, str):
        return _escape(value)
    if isinstance(value, dict):
        return _object_text(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join([_jsonb_text(item) for item in value]) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _numeric_text(value)
    return _jsonb_text(json_default(value))


def canonical_json(data: Any) -> bytes:
    """The canonical JSON of a record's data (see the module docstring), UTF-8."""
    text = _jsonb_text(data)
    if "\\u0000" not in text:
        try:
            return text.encode()
        except UnicodeEncodeError:  # a lone surrogate
            pass
    return _jsonb_text(storable(data)).encode()  # as it is stored: the same rule as every store's


def digest_of(canonical: bytes) -> str:
    """The tie-break digest of a live version, from its ``canonical_json``."""
    return hashlib.sha256(canonical).hexdigest()


_ISO_PARSEABLE = frozenset("0123456789-+:.TtZz ")


def version_time(value: Any) -> int | None:
    """``value`` (unix seconds, ISO-8601 text or a datetime) in microseconds, or None if it is none.

    Fractions finer than a microsecond are rounded (half to even), as PostgreSQL's ``to_timestamp``
    does; ISO text without an offset is UTC.
    """
    kind = type(value)
    if kind is int:
        return value * MICROSECONDS  # type: ignore[no-any-return]  # an int times an int
    if kind is float:
        return round(value * MICROSECONDS) if math.isfinite(value) else None
    if isinstance(value, str):
        return _iso_time(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (moment - EPOCH) // timedelta(microseconds=1)
    return None


def _iso_time(text: str) -> int | None:
    if not text or not _ISO_PARSEABLE.issuperset(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return version_time(moment)


def live_version(time: int, data: Any) -> Version:
    return Version(time, False, digest_of(canonical_json(data)))


def tombstone_version(time: int) -> Version:
    return Version(time, True, TOMBSTONE_DIGEST)


def is_tombstone(record: RecordPayload) -> bool:
    """Whether the record is a tombstone: the wire marks a deletion with ``recordDeleted`` only."""
    return bool(record.record_deleted)


def version_of(record: RecordPayload, newer_than_field: str) -> Version | None:
    """The record's version, or None when its ``newer_than_field`` holds no time."""
    time_us = version_time(record.data.get(newer_than_field))
    if time_us is None:
        return None
    return tombstone_version(time_us) if is_tombstone(record) else live_version(time_us, record.data)


def winner(records: Iterable[RecordPayload], newer_than_field: str) -> RecordPayload:
    """Which of these versions of one object a destination keeps (for models and tests)."""

    def rank(record: RecordPayload) -> Version:
        version = version_of(record, newer_than_field)
        if version is None:
            raise ValueError(f"a record has no usable {newer_than_field!r}")
        return version

    return max(records, key=rank)


# --- the same order in SQL -----------------------------------------------------------------------


class VersionSql(NamedTuple):
    """A version's three components as SQL expressions: ``time`` a ``timestamptz``, ``deleted`` a
    ``boolean``, ``digest`` a ``bytea`` (the SHA-256 itself: bytes order as their lowercase hex
    does). Field for field the same as ``Version``."""

    time: str
    deleted: str
    digest: str

    @classmethod
    def live(cls, time: str, raw: str) -> VersionSql:
        """A live version whose data is the ``jsonb`` expression ``raw``."""
        return cls(time, "false", sql_digest(raw))

    @classmethod
    def tombstone(cls, time: str) -> VersionSql:
        return cls(time, "true", SQL_TOMBSTONE_DIGEST)

    @classmethod
    def either(cls, time: str, deleted: str, raw: str) -> VersionSql:
        """A version that is a tombstone when the boolean expression ``deleted`` is true."""
        digest = f"CASE WHEN {deleted} THEN {SQL_TOMBSTONE_DIGEST} ELSE {sql_digest(raw)} END"
        return cls(time, deleted, digest)


SQL_TOMBSTONE_DIGEST = "'\\x'::bytea"


def sql_digest(raw: str) -> str:
    """The digest of the ``jsonb`` expression ``raw``: PostgreSQL's own text of it is the canonical JSON."""
    return f"sha256(convert_to(({raw})::text, 'UTF8'))"


assert VersionSql._fields == Version._fields  # one order, two spellings


def sql_beats(incoming: VersionSql, existing: VersionSql) -> str:
    """A SQL condition true when ``incoming`` is newer than ``existing``: ``incoming > existing``.

    Row values compare left to right, so a digest is computed only when the times and the
    ``deleted`` flags are equal.
    """
    return f"(({', '.join(incoming)}) > ({', '.join(existing)}))"


def sql_newest_first(version: VersionSql) -> str:
    """An ``ORDER BY`` list that puts the newest version first."""
    return ", ".join(f"{component} DESC" for component in version)
