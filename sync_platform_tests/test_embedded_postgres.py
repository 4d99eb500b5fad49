"""The embedded PostgreSQL helper and the ``pg`` fixture built on it."""

from __future__ import annotations

from pathlib import Path

import psycopg

from sync_platform.embedded_postgres import embedded_postgres, ensure_database, with_database
from sync_platform_tests.plugins.postgres import PgTestDatabase


def test_database_url_wins_and_nothing_is_started(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path / "pg", environ={"DATABASE_URL": "postgresql://x@db/y"}) as url:
        assert url == "postgresql://x@db/y"
    assert not (tmp_path / "pg").exists()


def test_the_pg_fixture_is_a_real_server(pg: PgTestDatabase) -> None:
    with pg.connect() as connection:
        connection.execute(f'CREATE SCHEMA "{pg.schema}"')
        connection.execute(f'CREATE TABLE "{pg.schema}".t (x int)')
        connection.execute(f'INSERT INTO "{pg.schema}".t VALUES (1), (2)')
        assert connection.execute(f'SELECT sum(x) FROM "{pg.schema}".t').fetchone() == (3,)


def test_ensure_database_creates_once_and_returns_its_url(postgres_url: str) -> None:
    url = ensure_database(postgres_url, "sp_test_extra")
    assert url == with_database(postgres_url, "sp_test_extra")
    assert ensure_database(postgres_url, "sp_test_extra") == url
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == ("sp_test_extra",)
