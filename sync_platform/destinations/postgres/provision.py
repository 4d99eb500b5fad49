"""Setup and teardown of a pipeline's schema: create and evolve tables, and later drop exactly those.

``prepare_stream`` is setup for one stream, which every ``write()`` runs before its first flush of
that stream, so a sync works without a separate setup run and picks up new columns.

Teardown drops only what this destination created: the tables listed in ``_sync_tables``, its two
bookkeeping tables, and the schema itself when setup created it and nothing else is left in it.
It refuses ``public`` and PostgreSQL's own schemas outright, whatever they contain.

``prune_tombstones`` forgets remembered deletions past the pipeline's retention horizon;
``purge_account`` removes one account's rows from every table (the destination kit's hook).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg
from psycopg import sql

from sync_platform.destinations.postgres.config import PostgresDestinationConfig
from sync_platform.destinations.postgres.connection import connect, describe_error, scrubbed
from sync_platform.destinations.postgres.ddl import (
    SCHEMA_COMMENT,
    TableReport,
    ensure_schema,
    ensure_table,
    lock_schema,
    read_columns,
    registered_tables,
    schema_exists,
    writable_columns,
)
from sync_platform.destinations.postgres.errors import (
    PostgresDestinationError,
    ProtectedSchemaError,
    postgres_failure_kind,
)
from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn, stream_layout
from sync_platform.destinations.postgres.naming import (
    ACCOUNT_ID,
    TABLES_TABLE,
    TOMBSTONES_TABLE,
    is_system_schema,
)
from sync_platform.protocol import ConfiguredCatalog, LogLevel, LogMessage, log

SHARED_SCHEMA = "public"


def refuse_system_schema(schema: str, operation: str) -> None:
    if is_system_schema(schema):
        raise ProtectedSchemaError(
            f"Refusing to {operation} in {schema!r}: it is one of PostgreSQL's own schemas. "
            "Set the destination's `schema` to a schema of your own (the default is 'stripe')."
        )


def setup_schema(config: PostgresDestinationConfig, catalog: ConfiguredCatalog) -> list[LogMessage]:
    """Create the schema and one table per stream, or add the columns a newer catalog brings."""
    schema = config.schema_name
    refuse_system_schema(schema, "set up tables")
    layouts = [stream_layout(configured.stream) for configured in catalog.streams]
    messages: list[LogMessage] = []
    with connect(config) as connection, connection.transaction():
        lock_schema(connection, schema)
        if ensure_schema(connection, schema):
            messages.append(log(LogLevel.INFO, f"postgres: created schema {schema!r}", {"schema": schema}))
        for layout in layouts:
            report = ensure_table(connection, schema, layout)
            data = {"stream": layout.stream, "table": f"{schema}.{layout.table}"}
            if report.created:
                messages.append(log(LogLevel.INFO, f"postgres: created table {schema}.{layout.table}", data))
            if report.added_columns:
                added = ", ".join(report.added_columns)
                messages.append(
                    log(
                        LogLevel.INFO,
                        f"postgres: added columns {added} to {schema}.{layout.table}; existing rows hold "
                        "NULL there until their object is next written",
                        {**data, "added_columns": report.added_columns},
                    )
                )
            for conflict in report.type_conflicts:
                messages.append(
                    log(
                        LogLevel.WARN,
                        f"postgres: {schema}.{layout.table}: {conflict}. Setup never retypes a column; "
                        "the column keeps its type and is filled by that type's rule. To adopt the new "
                        "type, ALTER the column yourself.",
                        data,
                    )
                )
            for field_name, reason in layout.skipped_fields.items():
                messages.append(
                    log(
                        LogLevel.WARN,
                        f"postgres: field {field_name!r} of stream {layout.stream!r} gets no typed column: "
                        f"{reason}; it stays in _raw_data.",
                        data,
                    )
                )
    if schema == SHARED_SCHEMA:
        messages.append(
            log(
                LogLevel.WARN,
                "postgres: the tables live in the shared schema 'public', which teardown refuses to "
                "touch; a dedicated `schema` per pipeline can be torn down cleanly.",
            )
        )
    return messages


@dataclass(frozen=True)
class PreparedStream:
    columns: list[TypedColumn]
    notes: list[str]
    report: TableReport


def prepare_stream(config: PostgresDestinationConfig, layout: StreamLayout) -> PreparedStream:
    """Make sure the stream's table exists with the catalog's columns; learn its actual types.

    Blocking (DDL shares its code with setup): the write loop runs it in a worker thread, once per
    stream and write.
    """
    schema = config.schema_name
    with connect(config) as connection, connection.transaction():
        lock_schema(connection, schema)
        ensure_schema(connection, schema)
        report = ensure_table(connection, schema, layout)
        existing = read_columns(connection, schema, layout.table) or {}
    columns, notes = writable_columns(layout, existing)
    return PreparedStream(columns, notes, report)


def teardown_schema(config: PostgresDestinationConfig) -> list[LogMessage]:
    """Drop the tables this destination created in the schema, then the schema if it is ours and empty."""
    schema = config.schema_name
    refuse_system_schema(schema, "tear down tables")
    if schema == SHARED_SCHEMA:
        raise ProtectedSchemaError(
            "Refusing to tear down schema 'public': it is shared by everything in the database, so "
            "the postgres destination never drops tables there. Drop the pipeline's tables yourself "
            "(they are listed in public._sync_tables), or give each pipeline its own `schema`."
        )
    with connect(config) as connection, connection.transaction():
        lock_schema(connection, schema)
        if not schema_exists(connection, schema):
            return [log(LogLevel.INFO, f"postgres: schema {schema!r} does not exist; nothing to tear down")]
        tables = registered_tables(connection, schema)
        try:
            for table in [*tables, TOMBSTONES_TABLE, TABLES_TABLE]:
                connection.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table)))
        except psycopg.errors.DependentObjectsStillExist as error:
            raise PostgresDestinationError(
                f"Teardown of schema {schema!r} stopped: {describe_error(error, config)}. Nothing was "
                "dropped. Drop or change the objects that depend on the pipeline's tables (views, foreign "
                "keys), then run teardown again.",
                failure_kind=postgres_failure_kind(error),
            ) from scrubbed(error, config)
        messages = [
            log(
                LogLevel.INFO,
                f"postgres: dropped {len(tables)} tables from schema {schema!r}",
                {"tables": list(tables)},
            )
        ]
        messages.append(_drop_schema_if_ours(connection, schema))
    return messages


def _drop_schema_if_ours(connection: psycopg.Connection[tuple[object, ...]], schema: str) -> LogMessage:
    row = connection.execute(
        "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (schema,)
    ).fetchone()
    if row is None or row[0] != SCHEMA_COMMENT:
        return log(LogLevel.INFO, f"postgres: kept schema {schema!r}: setup did not create it")
    try:
        with connection.transaction():  # a savepoint: a refused drop keeps the table drops
            connection.execute(sql.SQL("DROP SCHEMA {}").format(sql.Identifier(schema)))
    except psycopg.errors.DependentObjectsStillExist:
        return log(
            LogLevel.WARN,
            f"postgres: kept schema {schema!r}: it still holds objects this destination did not create",
        )
    return log(LogLevel.INFO, f"postgres: dropped schema {schema!r}")


def prune_tombstones(config: PostgresDestinationConfig, older_than: datetime) -> int:
    """Forget deletions older than ``older_than`` (in every table of the schema); how many."""
    schema = config.schema_name
    refuse_system_schema(schema, "prune tombstones")
    if older_than.tzinfo is None:  # as the destination kit reads times: no offset means UTC
        older_than = older_than.replace(tzinfo=UTC)
    with connect(config) as connection:
        if read_columns(connection, schema, TOMBSTONES_TABLE) is None:
            return 0  # never set up: nothing remembered
        cursor = connection.execute(
            sql.SQL("DELETE FROM {} WHERE deleted_at < %s").format(sql.Identifier(schema, TOMBSTONES_TABLE)),
            (older_than,),
        )
        return cursor.rowcount


def purge_account(config: PostgresDestinationConfig, account_id: str) -> int:
    """Delete the rows of ``account_id`` from every table this destination created in the schema,
    in one transaction (all of them or none); how many.

    Every table has ``_account_id`` (``layout``), so the tables listed in ``_sync_tables`` are all
    there is to visit; tombstones stay (see ``engine/destination_kit/purge.py``).
    """
    schema = config.schema_name
    refuse_system_schema(schema, "purge an account's rows")
    removed = 0
    with connect(config) as connection, connection.transaction():
        for table in registered_tables(connection, schema):
            cursor = connection.execute(
                sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                    sql.Identifier(schema, table), sql.Identifier(ACCOUNT_ID)
                ),
                (account_id,),
            )
            removed += max(cursor.rowcount, 0)
    return removed
