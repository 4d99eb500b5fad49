"""Real PostgreSQL for tests: ``DATABASE_URL`` when set, otherwise one embedded server per session.

``pg`` gives each test its own schema on that server and drops it afterwards, so tests can run in
any order against one server without seeing each other's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from sync_platform.embedded_postgres import embedded_postgres


@dataclass(frozen=True)
class PgTestDatabase:
    """A server URL plus a schema reserved for one test."""

    url: str
    schema: str

    def connect(self, **kwargs: object) -> psycopg.Connection[tuple[object, ...]]:
        return psycopg.connect(self.url, autocommit=True, **kwargs)  # type: ignore[arg-type]  # kwargs forwarded


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("embedded-pg") / "data"
    with embedded_postgres(data_dir, delete_on_exit=True) as url:
        yield url


@pytest.fixture
def pg(postgres_url: str) -> Iterator[PgTestDatabase]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    database = PgTestDatabase(url=postgres_url, schema=schema)
    yield database
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
