"""Creates and evolves the destination schema: tables from stream layouts, additive changes only.

Setup never drops, renames or retypes a column and never rewrites rows: a newer catalog only adds
columns (NULL in existing rows until their object is next written). A column whose type no longer
matches the catalog keeps its type and is reported. Every name goes through ``sql.Identifier``.

DDL runs under a transaction-level advisory lock on the schema, so two setups (or a setup and a
write creating a missing table) cannot race each other into "relation already exists".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from sync_platform.destinations.postgres.errors import StreamLayoutError
from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn
from sync_platform.destinations.postgres.naming import (
    RAW_DATA,
    SYNCED_AT,
    TABLES_TABLE,
    TOMBSTONES_TABLE,
    UPDATED_AT,
)
from sync_platform.destinations.postgres.type_rules import (
    KIND_FOR_EXISTING_TYPE,
    PG_TYPE_ALIASES,
)

SCHEMA_COMMENT = "Created by the sync_platform postgres destination; teardown drops it once it is empty."

Connection = psycopg.Connection[tuple[object, ...]]

KEY_COLLATION = "C"
"""Key columns compare bytewise: ids need no linguistic order, and a locale-aware comparison in
every primary-key probe costs more than the rest of an insert. (Joins with default-collation text
columns still work: PostgreSQL picks the explicit collation.)"""

TOAST_TUPLE_TARGET = 8160
"""Keep rows up to ~8 KB inline and uncompressed. Most Stripe objects are 1-4 KB; compressing each
one (PostgreSQL's default above 2 KB) costs more CPU than the rest of an upsert, and every later
``_raw_data ->> 'field'`` read would pay to decompress it. Larger rows are still compressed."""


@dataclass
class TableReport:
    """What ensuring one table did, for setup's log messages."""

    table: str
    created: bool = False
    added_columns: list[str] = field(default_factory=list)
    type_conflicts: list[str] = field(default_factory=list)


def lock_schema(connection: Connection, schema: str) -> None:
    """Serialize DDL on ``schema`` with other writers until the current transaction ends."""
    connection.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"sync_platform:ddl:{schema}",)
    )


def schema_exists(connection: Connection, schema: str) -> bool:
    row = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
    return row is not None


def ensure_schema(connection: Connection, schema: str) -> bool:
    """Create ``schema`` and the bookkeeping tables if missing; True when the schema was created."""
    created = not schema_exists(connection, schema)
    if created:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        connection.execute(
            sql.SQL("COMMENT ON SCHEMA {} IS {}").format(sql.Identifier(schema), sql.Literal(SCHEMA_COMMENT))
        )
    connection.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, stream text NOT NULL, "
            "created_at timestamptz NOT NULL DEFAULT now())"
        ).format(sql.Identifier(schema, TABLES_TABLE))
    )
    connection.execute(
        sql.SQL(
            'CREATE TABLE IF NOT EXISTS {} (table_name text COLLATE "C" NOT NULL, '
            'key text[] COLLATE "C" NOT NULL, deleted_at timestamptz NOT NULL, PRIMARY KEY (table_name, key))'
        ).format(sql.Identifier(schema, TOMBSTONES_TABLE))
    )
    return created


def read_columns(connection: Connection, schema: str, table: str) -> dict[str, str] | None:
    """The table's columns as ``name -> type`` (``format_type`` spelling), or None if it is missing."""
    rows = connection.execute(
        """
        SELECT a.attname, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum
        """,
        (schema, table),
    ).fetchall()
    return {str(name): str(pg_type) for name, pg_type in rows} or None


def read_primary_key(connection: Connection, schema: str, table: str) -> list[str]:
    rows = connection.execute(
        """
        SELECT a.attname
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE n.nspname = %s AND c.relname = %s AND i.indisprimary
        ORDER BY array_position(i.indkey::int2[], a.attnum)
        """,
        (schema, table),
    ).fetchall()
    return [str(name) for (name,) in rows]


def registered_tables(connection: Connection, schema: str) -> dict[str, str]:
    """``table -> stream`` for every table this destination created in ``schema``."""
    if read_columns(connection, schema, TABLES_TABLE) is None:
        return {}
    rows = connection.execute(
        sql.SQL("SELECT table_name, stream FROM {} ORDER BY table_name").format(
            sql.Identifier(schema, TABLES_TABLE)
        )
    ).fetchall()
    return {str(table): str(stream) for table, stream in rows}


def _create_table(connection: Connection, schema: str, layout: StreamLayout) -> None:
    parts = [sql.SQL('{} text COLLATE "C" NOT NULL').format(sql.Identifier(k.name)) for k in layout.key]
    parts += [
        sql.SQL("{} timestamptz NOT NULL").format(sql.Identifier(UPDATED_AT)),
        sql.SQL("{} timestamptz NOT NULL DEFAULT now()").format(sql.Identifier(SYNCED_AT)),
    ]
    parts += [sql.SQL("{} {}").format(sql.Identifier(c.name), sql.SQL(c.pg_type)) for c in layout.columns]
    parts.append(sql.SQL("{} jsonb NOT NULL").format(sql.Identifier(RAW_DATA)))
    parts.append(
        sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(sql.Identifier(n) for n in layout.key_names))
    )
    connection.execute(
        sql.SQL("CREATE TABLE {} ({}) WITH (toast_tuple_target = {})").format(
            sql.Identifier(schema, layout.table), sql.SQL(", ").join(parts), sql.Literal(TOAST_TUPLE_TARGET)
        )
    )
    connection.execute(
        sql.SQL("INSERT INTO {} (table_name, stream) VALUES (%s, %s)").format(
            sql.Identifier(schema, TABLES_TABLE)
        ),
        (layout.table, layout.stream),
    )


def ensure_table(connection: Connection, schema: str, layout: StreamLayout) -> TableReport:
    """Create the stream's table, or add the columns a newer catalog brings; never drop or retype.

    Call inside a transaction holding ``lock_schema``, after ``ensure_schema``.
    """
    report = TableReport(layout.table)
    existing = read_columns(connection, schema, layout.table)
    if existing is None:
        _create_table(connection, schema, layout)
        report.created = True
        return report
    if layout.table not in registered_tables(connection, schema):
        raise StreamLayoutError(
            f"Table {schema}.{layout.table} already exists but was not created by the postgres "
            f"destination, so stream {layout.stream!r} will not write into it. Point the destination "
            "at another `schema`, or rename that table."
        )
    key = read_primary_key(connection, schema, layout.table)
    if key != list(layout.key_names):
        raise StreamLayoutError(
            f"Stream {layout.stream!r} now has primary key {list(layout.key_names)}, but table "
            f"{schema}.{layout.table} is keyed on {key}. A key cannot change in place: sync the "
            "stream into a new schema, or drop the table and re-run setup to rebuild it."
        )
    missing = [c for c in layout.columns if c.name not in existing]
    if missing:
        connection.execute(
            sql.SQL("ALTER TABLE {} {}").format(
                sql.Identifier(schema, layout.table),
                sql.SQL(", ").join(
                    sql.SQL("ADD COLUMN IF NOT EXISTS {} {}").format(
                        sql.Identifier(c.name), sql.SQL(c.pg_type)
                    )
                    for c in missing
                ),
            )
        )
        report.added_columns = [c.name for c in missing]
    for column in layout.columns:
        actual = existing.get(column.name)
        if actual is not None and actual != PG_TYPE_ALIASES.get(column.pg_type, column.pg_type):
            report.type_conflicts.append(f"{column.name} is {actual}, the catalog now says {column.pg_type}")
    return report


def writable_columns(layout: StreamLayout, existing: dict[str, str]) -> tuple[list[TypedColumn], list[str]]:
    """The typed columns the write path fills, read with the kind the table's column type allows.

    A column whose type drifted from the catalog is filled by its actual type's rule (its contents
    stay consistent with its type); a column of a type this destination does not write is left
    alone. Returns the columns and a note per column left alone.
    """
    writable: list[TypedColumn] = []
    notes: list[str] = []
    for column in layout.columns:
        actual = existing.get(column.name)
        if actual is None:
            notes.append(f"{column.name}: missing from the table (re-run setup to add it)")
            continue
        if actual == PG_TYPE_ALIASES.get(column.pg_type, column.pg_type):
            writable.append(column)
            continue
        kind = KIND_FOR_EXISTING_TYPE.get(actual)
        if kind is None:
            notes.append(f"{column.name}: its type {actual} is not one this destination writes")
            continue
        writable.append(TypedColumn(column.field, column.name, kind, column.description))
    return writable, notes
