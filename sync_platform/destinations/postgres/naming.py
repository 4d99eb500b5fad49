"""Table and column names for streams and fields: always valid, never truncated into a collision.

PostgreSQL silently cuts identifiers to 63 bytes (two long names sharing a prefix would land in one
column) and cannot store NUL characters in a name. Every other character is fine once the name is
quoted, and every statement this destination builds quotes names through ``psycopg.sql.Identifier``,
so a stream called ``"; DROP TABLE x; --`` simply gets a table of that name.
"""

from __future__ import annotations

import hashlib
import re

MAX_IDENTIFIER_BYTES = 63
_HASH_SUFFIX_CHARS = 9  # "_" + 8 hex digits
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

TABLES_TABLE = "_sync_tables"
"""Registry of the tables this destination created in a schema; teardown drops exactly these."""
TOMBSTONES_TABLE = "_sync_tombstones"
"""Deleted objects (stream, key, deleted_at), consulted so an older version cannot resurrect them."""
INTERNAL_TABLES = frozenset({TABLES_TABLE, TOMBSTONES_TABLE})

RAW_DATA = "_raw_data"
ACCOUNT_ID = "_account_id"
UPDATED_AT = "_updated_at"
SYNCED_AT = "_synced_at"
SYSTEM_COLUMNS = (RAW_DATA, ACCOUNT_ID, UPDATED_AT, SYNCED_AT)

SYSTEM_SCHEMAS = frozenset({"information_schema", "pg_catalog", "pg_toast"})


def is_system_schema(schema: str) -> bool:
    """PostgreSQL's own schemas (``pg_*``, ``information_schema``), where nothing of ours belongs."""
    return schema in SYSTEM_SCHEMAS or schema.startswith("pg_")


def safe_identifier(name: str) -> str:
    """``name`` itself when PostgreSQL can hold it, else a shortened name with a stable hash suffix.

    NUL characters and lone surrogates (which no PostgreSQL name can hold) become ``?``; a changed
    name, or one over 63 bytes, is cut at a character boundary and ends in ``_<8 hex of
    sha1(name)>``, so two long names that share a prefix stay distinct and the same name always
    maps to the same identifier.
    """
    cleaned = _UNSTORABLE.sub("?", name)
    if cleaned == name and name and len(name.encode()) <= MAX_IDENTIFIER_BYTES:
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    budget = MAX_IDENTIFIER_BYTES - _HASH_SUFFIX_CHARS
    prefix = cleaned.encode()[:budget].decode("utf-8", "ignore")  # drop a character cut in half
    return f"{prefix}_{digest}"


def is_identifier_safe(name: str) -> bool:
    """Can ``name`` be used verbatim as an identifier (so PostgreSQL will not alter it)?"""
    return safe_identifier(name) == name


def table_name(stream: str) -> str:
    """The table that holds ``stream``: the stream's own name, made safe."""
    return safe_identifier(stream)


def column_name(field: str) -> str:
    """The typed column for a top-level JSON field: the field's own name, made safe."""
    return safe_identifier(field)
