"""Teardown drops exactly what setup created, and refuses shared and system schemas."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from sync_platform.destinations.postgres import PostgresDestinationError, ProtectedSchemaError
from sync_platform.protocol import stream_state
from sync_platform_tests.destinations.postgres.conftest import (
    catalog_of,
    logs,
    setup,
    stripe_stream,
    teardown,
    version,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

CATALOG = catalog_of(stripe_stream("charge"), stripe_stream("customer"))


def tables_in(pg: PgTestDatabase) -> list[str]:
    with pg.connect() as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", (pg.schema,)
        ).fetchall()
    return [str(name) for (name,) in rows]


def schema_exists(pg: PgTestDatabase) -> bool:
    with pg.connect() as connection:
        return (
            connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg.schema,)).fetchone()
            is not None
        )


def test_teardown_drops_the_pipeline_tables_and_the_schema_it_created(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    setup(config, CATALOG)
    write(
        config,
        CATALOG,
        [
            version("charge", "ch_1", 1),
            version("charge", "ch_1", 2, deleted=True),
            stream_state("charge", {}),
        ],
    )
    output = teardown(config)
    assert [m.log.message for m in logs(output)] == [
        f"postgres: dropped 2 tables from schema {pg.schema!r}",
        f"postgres: dropped schema {pg.schema!r}",
    ]
    assert not schema_exists(pg)


def test_teardown_leaves_tables_it_did_not_create(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    setup(config, CATALOG)
    with pg.connect() as connection:
        connection.execute(
            sql.SQL("CREATE TABLE {} (note text)").format(sql.Identifier(pg.schema, "analyst_notes"))
        )
    output = teardown(config)
    assert tables_in(pg) == ["analyst_notes"]
    assert "still holds objects this destination did not create" in logs(output)[-1].log.message
    with pg.connect() as connection:
        connection.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(pg.schema, "analyst_notes")))
    teardown(config)  # now the schema is empty and ours
    assert not schema_exists(pg)


def test_teardown_keeps_a_schema_that_existed_before_setup(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    with pg.connect() as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg.schema)))
    setup(config, CATALOG)
    output = teardown(config)
    assert tables_in(pg) == []
    assert schema_exists(pg)
    assert "setup did not create it" in logs(output)[-1].log.message


def test_teardown_stops_without_dropping_anything_when_a_view_depends_on_a_table(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    setup(config, CATALOG)
    with pg.connect() as connection:
        connection.execute(
            sql.SQL("CREATE VIEW {} AS SELECT id FROM {}").format(
                sql.Identifier(pg.schema, "paid_charges"), sql.Identifier(pg.schema, "charge")
            )
        )
    with pytest.raises(PostgresDestinationError, match=r"Nothing was dropped.*depend"):
        teardown(config)
    assert tables_in(pg) == ["_sync_tables", "_sync_tombstones", "charge", "customer"]


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ("public", "shared by everything in the database"),
        ("pg_catalog", "one of PostgreSQL's own schemas"),
        ("information_schema", "one of PostgreSQL's own schemas"),
        ("pg_toast", "one of PostgreSQL's own schemas"),
    ],
)
def test_teardown_refuses_shared_and_system_schemas_before_touching_the_database(
    schema: str, reason: str
) -> None:
    unreachable = {"url": "postgresql://nobody@127.0.0.1:1/none", "schema": schema}
    with pytest.raises(ProtectedSchemaError, match=reason):
        teardown(unreachable)


def test_teardown_of_a_missing_schema_is_a_no_op(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    output = teardown(config)
    assert "nothing to tear down" in logs(output)[0].log.message
