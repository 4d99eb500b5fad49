"""The destination conformance suite, run against every registered destination that stores data.

The cases are the kit's (``sync_platform.engine.destination_kit.conformance``); this module only
says how to reach each destination on a real server (the test PostgreSQL, the local Sheets API),
how to read back what it stored, and how to make one of its flushes fail for real.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from psycopg import sql

from sync_platform.destinations.google_sheets import GoogleSheetsDestination, tab_rows
from sync_platform.destinations.google_sheets.layout import CellWriter
from sync_platform.destinations.postgres import PostgresDestination, table_name
from sync_platform.engine import default_registry
from sync_platform.engine.destination_kit.conformance import (
    PROPERTIES,
    ConformanceTarget,
    DestinationConformance,
)
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform.storable_json import storable
from sync_platform_tests.plugins.postgres import PgTestDatabase

FIXTURE_DESTINATIONS = {"null", "echo", "buffer"}  # they store nothing: nothing to conform to
OBJECT_COLUMNS = [name for name, schema in PROPERTIES.items() if "object" in schema["type"]]


def postgres_target(request: pytest.FixtureRequest) -> ConformanceTarget:
    pg: PgTestDatabase = request.getfixturevalue("pg")

    def read_rows(config: dict[str, Any], stream: str) -> list[dict[str, Any]]:
        query = sql.SQL("SELECT _raw_data FROM {}").format(
            sql.Identifier(config["schema"], table_name(stream))
        )
        with pg.connect() as connection:
            return [row[0] for row in connection.execute(query).fetchall()]  # type: ignore[misc]  # jsonb

    @contextmanager
    def failing(config: dict[str, Any], stream: str) -> Iterator[None]:
        """A trigger that refuses every change to the stream's table: the flush's transaction fails."""
        schema, table = config["schema"], table_name(stream)
        function = sql.Identifier(schema, "conformance_refuse")
        with pg.connect() as connection:
            connection.execute(
                sql.SQL(
                    "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$BEGIN RAISE EXCEPTION 'conformance: this flush fails'; END$$"
                ).format(function)
            )
            connection.execute(
                sql.SQL(
                    "CREATE TRIGGER conformance_refuse BEFORE INSERT OR UPDATE OR DELETE ON {} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION {}()"
                ).format(sql.Identifier(schema, table), function)
            )
        try:
            yield
        finally:
            with pg.connect() as connection:
                connection.execute(sql.SQL("DROP FUNCTION {}() CASCADE").format(function))

    return ConformanceTarget(
        destination=PostgresDestination(),
        config={"url": pg.url, "schema": pg.schema, "batch_size": 100},
        read_rows=read_rows,
        stored_text=storable,  # NUL characters become U+FFFD (docs/destinations/postgres.md)
        failing=failing,
    )


def sheets_target(request: pytest.FixtureRequest) -> ConformanceTarget:
    sheets: SheetsEmulator = request.getfixturevalue("sheets")
    config: dict[str, Any] = request.getfixturevalue("sheets_config")

    def read_rows(config: dict[str, Any], stream: str) -> list[dict[str, Any]]:
        rows = tab_rows(config, stream)
        for row in rows:  # objects are kept as their JSON text; an empty cell is no value
            for column in OBJECT_COLUMNS:
                row[column] = json.loads(row[column]) if row.get(column) else None
        return rows

    @contextmanager
    def failing(config: dict[str, Any], stream: str) -> Iterator[None]:
        """Google refuses the next write (a 400: not retried, nothing applied)."""
        sheets.fail_next(1, status=400)
        yield
        assert sheets.pending_failures() == 0, "the write never flushed"

    return ConformanceTarget(
        destination=GoogleSheetsDestination(clock=request.getfixturevalue("skipping_clock")),
        config=config,
        read_rows=read_rows,
        stored_text=CellWriter().fit,  # cut at 50,000 characters, with a marker
        failing=failing,
    )


TARGETS: dict[str, Callable[[pytest.FixtureRequest], ConformanceTarget]] = {
    "google_sheets": sheets_target,
    "postgres": postgres_target,
}


def test_every_registered_destination_that_stores_data_runs_the_suite() -> None:
    registered = set(default_registry(include_entry_points=False).names("destination"))
    assert registered - FIXTURE_DESTINATIONS == set(TARGETS)


class TestRegisteredDestinations(DestinationConformance):
    @pytest.fixture(params=sorted(TARGETS))
    def conformance_target(self, request: pytest.FixtureRequest) -> ConformanceTarget:
        return TARGETS[request.param](request)
