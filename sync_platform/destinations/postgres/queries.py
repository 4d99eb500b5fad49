"""Read-only questions about a pipeline's tables, for Dagster metadata and asset checks."""

from __future__ import annotations

from typing import Any

from psycopg import sql

from sync_platform.destinations.postgres.config import PostgresDestinationConfig, parse_config
from sync_platform.destinations.postgres.connection import connect
from sync_platform.destinations.postgres.ddl import read_columns
from sync_platform.destinations.postgres.errors import TableNotFoundError
from sync_platform.destinations.postgres.naming import ACCOUNT_ID, table_name


def row_count(
    config: dict[str, Any] | PostgresDestinationConfig, stream: str, account_id: str | None = None
) -> int:
    """Rows in ``stream``'s table, optionally for one Stripe account only (an exact ``count(*)``)."""
    parsed = parse_config(config)
    table = table_name(stream)
    with connect(parsed) as connection:
        if read_columns(connection, parsed.schema_name, table) is None:
            raise TableNotFoundError(parsed.schema_name, table, stream)
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(parsed.schema_name, table))
        params: tuple[str, ...] = ()
        if account_id is not None:
            query = sql.SQL("{} WHERE {} = %s").format(query, sql.Identifier(ACCOUNT_ID))
            params = (account_id,)
        row = connection.execute(query, params).fetchone()
    return int(row[0]) if row is not None else 0  # type: ignore[call-overload]  # count(*) is an int


def table_columns(config: dict[str, Any] | PostgresDestinationConfig, stream: str) -> list[tuple[str, str]]:
    """``(name, type)`` of every column of ``stream``'s table as it is in the database now."""
    parsed = parse_config(config)
    table = table_name(stream)
    with connect(parsed) as connection:
        columns = read_columns(connection, parsed.schema_name, table)
    if columns is None:
        raise TableNotFoundError(parsed.schema_name, table, stream)
    return list(columns.items())
