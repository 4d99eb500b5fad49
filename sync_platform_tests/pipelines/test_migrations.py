"""Migrations apply once, in order, idempotently, and safely when several processes start at once."""

from __future__ import annotations

import threading
from dataclasses import replace

import psycopg
import pytest

from sync_platform.engine import ConnectorRegistry
from sync_platform.errors import ConfigError
from sync_platform.pipelines import MIGRATIONS, MigrationError, PipelineCreate, PipelineStore, migrate
from sync_platform_tests.plugins.postgres import PgTestDatabase


def applied_versions(pg: PgTestDatabase) -> list[int]:
    with pg.connect() as connection:
        rows = connection.execute(f'SELECT version FROM "{pg.schema}".schema_migrations ORDER BY version')
        return [int(str(row[0])) for row in rows.fetchall()]


def tables(pg: PgTestDatabase) -> set[str]:
    with pg.connect() as connection:
        rows = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (pg.schema,)
        ).fetchall()
        return {str(row[0]) for row in rows}


def test_migrate_creates_the_schema_and_is_a_no_op_the_second_time(pg: PgTestDatabase) -> None:
    with pg.connect() as connection:
        first = migrate(connection, pg.schema)
        second = migrate(connection, pg.schema)

    assert first == [m.version for m in MIGRATIONS]
    assert second == []
    assert applied_versions(pg) == first
    assert tables(pg) == {
        "schema_migrations",
        "pipelines",
        "checkpoints",
        "webhook_inbox",
        "run_locks",
        "api_tokens",
        "pipeline_runs",
    }


def test_opening_the_store_twice_keeps_the_data(
    pg: PgTestDatabase, connector_registry: ConnectorRegistry, store_environ: dict[str, str]
) -> None:
    request = PipelineCreate.model_validate(
        {
            "id": "kept",
            "source": {"type": "fixture", "fixture": {}},
            "destination": {"type": "null", "null": {}},
        }
    )
    with PipelineStore(pg.url, schema=pg.schema, registry=connector_registry, environ=store_environ) as store:
        store.create(request)
    with PipelineStore(pg.url, schema=pg.schema, registry=connector_registry, environ=store_environ) as store:
        assert store.get("kept").id == "kept"


def test_processes_starting_at_once_apply_each_migration_exactly_once(pg: PgTestDatabase) -> None:
    """Without the advisory lock, concurrent CREATE SCHEMA / CREATE TABLE would collide."""
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[list[int]] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            with pg.connect() as connection:
                barrier.wait()
                results.append(migrate(connection, pg.schema))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(results, key=len) == [[], [], [], [m.version for m in MIGRATIONS]]
    assert applied_versions(pg) == [m.version for m in MIGRATIONS]


def test_an_edited_migration_is_refused(pg: PgTestDatabase) -> None:
    with pg.connect() as connection:
        migrate(connection, pg.schema)
        edited = (replace(MIGRATIONS[0], sql=MIGRATIONS[0].sql + "\n-- edited"), *MIGRATIONS[1:])
        with pytest.raises(MigrationError, match="was changed after it was applied"):
            migrate(connection, pg.schema, edited)


def test_a_schema_migrated_by_a_newer_version_is_refused(pg: PgTestDatabase) -> None:
    with pg.connect() as connection:
        migrate(connection, pg.schema)
        newer = r"has migration\(s\) \[2, 3, 4, 5\] .* Upgrade sync_platform"
        with pytest.raises(MigrationError, match=newer):
            migrate(connection, pg.schema, MIGRATIONS[:1])


def test_a_failing_migration_leaves_nothing_half_applied(pg: PgTestDatabase) -> None:
    broken = (*MIGRATIONS, replace(MIGRATIONS[0], version=99, name="broken", sql="SELECT * FROM nowhere;"))
    with pg.connect() as connection, pytest.raises(psycopg.errors.UndefinedTable):
        migrate(connection, pg.schema, broken)
    with pg.connect() as connection:
        exists = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg.schema,)).fetchone()
    assert exists is None  # even CREATE SCHEMA was rolled back


def test_a_bad_schema_name_is_refused_before_any_sql(pg: PgTestDatabase) -> None:
    with pg.connect() as connection, pytest.raises(ConfigError, match="Invalid app database schema name"):
        migrate(connection, 'evil"; DROP TABLE x; --')
