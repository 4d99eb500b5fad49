"""Runs ``sync-platform`` through click's runner against the test's PostgreSQL schema.

``cli`` invokes the real command group with a ``CliContext`` aimed at the test schema, with the
default connectors plus the test ones (``secretive``, ``rejecting`` sources; the ``rows``
destination, which writes real rows into PostgreSQL). Every invocation's stdout and stderr are
kept in ``cli.transcript`` so a test can grep everything the CLI ever printed.

``pipeline_scenario`` is the seam for end-to-end variants: a scenario says how to create a
pipeline from the command line and how to read back which records landed in its destination.
Two run today: the fixture records into the ``rows`` test destination, and the Stripe emulator
into the real ``postgres`` destination. Every test that takes ``pipeline_scenario`` runs for both.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from click.testing import CliRunner
from psycopg import sql

from sync_platform.cli import CliContext
from sync_platform.cli import cli as sync_platform_cli
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import ConnectorRegistry, default_registry
from sync_platform.pipelines import SECRET_KEY_ENV
from sync_platform_tests.cli.connectors import RejectingSource, RowsDestination
from sync_platform_tests.plugins.pipelines import STRIPE_KEY, SecretiveSource
from sync_platform_tests.plugins.postgres import PgTestDatabase

ROWS_DSN_ENV = "TEST_ROWS_DSN"
DEST_URL_ENV = "DEST_DATABASE_URL"


@dataclass(frozen=True)
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class CliInvoker:
    """``cli("pipelines", "list")`` runs the command; ``transcript`` holds every output so far."""

    context_factory: Callable[[], CliContext]
    transcript: list[str] = field(default_factory=list)

    def __call__(self, *args: str) -> CliResult:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            result = CliRunner().invoke(
                sync_platform_cli, list(args), obj=self.context_factory(), catch_exceptions=False
            )
        finally:  # the CLI installs its own log handler on stderr; give pytest's back
            root.handlers, root.level = handlers, level
        self.transcript.append(result.stdout + result.stderr)
        return CliResult(result.exit_code, result.stdout, result.stderr)

    def ok(self, *args: str) -> CliResult:
        """Run and require exit code 0 (the failure shows the output)."""
        result = self(*args)
        assert result.exit_code == 0, f"exit {result.exit_code}\n{result.output}"
        return result


SECRETIVE = ("--source", "secretive", "--source.api-key-env", "STRIPE_API_KEY")
NULL = ("--destination", "null")


def get(cli: CliInvoker, pipeline_id: str) -> dict[str, Any]:
    """``pipelines get <id> --json``, parsed."""
    data: dict[str, Any] = json.loads(cli.ok("pipelines", "get", pipeline_id, "--json").stdout)
    return data


def cli_registry() -> ConnectorRegistry:
    registry = default_registry(include_entry_points=False)
    registry.register_source("secretive", SecretiveSource)
    registry.register_source("rejecting", RejectingSource)
    registry.register_destination("rows", RowsDestination)
    return registry


@pytest.fixture
def cli_environ(pg: PgTestDatabase, secret_key: str) -> dict[str, str]:
    """The environment the CLI sees: a secret key, a referenced Stripe key and the databases' URLs.

    A test (or scenario) may change it before running the CLI: each command reads it afresh.
    """
    return {
        SECRET_KEY_ENV: secret_key,
        "STRIPE_API_KEY": STRIPE_KEY,
        ROWS_DSN_ENV: pg.url,
        DEST_URL_ENV: pg.url,
    }


@pytest.fixture
def cli(pg: PgTestDatabase, cli_environ: dict[str, str]) -> CliInvoker:
    registry = cli_registry()
    return CliInvoker(
        lambda: CliContext(
            database_url=pg.url, database_schema=pg.schema, registry=registry, environ=cli_environ
        )
    )


def rows_in(pg: PgTestDatabase, table: str) -> set[tuple[str, str]]:
    """``(stream, id)`` of every row the ``rows`` destination wrote into ``table``."""
    with pg.connect() as connection:
        exists = connection.execute("SELECT to_regclass(%s)", (f'"{pg.schema}"."{table}"',)).fetchone()
        if exists is None or exists[0] is None:
            return set()
        query = sql.SQL("SELECT stream, id FROM {}").format(sql.Identifier(pg.schema, table))
        return {(str(stream), str(id_)) for stream, id_ in connection.execute(query).fetchall()}


# --- end-to-end scenarios ------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineScenario:
    """How to create one kind of pipeline from the CLI, and how to see what reached its destination.

    ``create_args(pipeline_id)`` are the ``pipelines create`` arguments after the command name (each
    pipeline must write to its own place, so two pipelines of one test can be compared);
    ``rows(pipeline_id)`` reads back ``(stream, id)`` of every record in its destination;
    ``expected`` is what a complete sync must leave there.
    """

    name: str
    create_args: Callable[[str], list[str]]
    rows: Callable[[str], set[tuple[str, str]]]
    expected: set[tuple[str, str]]


FIXTURE_STREAMS = {"customer": 23, "invoice": 7}


def fixture_to_rows(request: pytest.FixtureRequest) -> PipelineScenario:
    """The fixture records (behind a source with an API key) into real PostgreSQL rows."""
    pg: PgTestDatabase = request.getfixturevalue("pg")
    streams = ",".join(f'"{name}": {count}' for name, count in FIXTURE_STREAMS.items())
    return PipelineScenario(
        name="fixture-to-rows",
        create_args=lambda pipeline_id: [
            "--source",
            "secretive",
            "--source.api-key-env",
            "STRIPE_API_KEY",
            "--source.streams",
            "{" + streams + "}",
            "--source.state-every",
            "3",
            "--destination",
            "rows",
            "--destination.dsn-env",
            ROWS_DSN_ENV,
            "--destination.schema-name",
            pg.schema,
            "--destination.table",
            f"rows_{pipeline_id}",
        ],
        rows=lambda pipeline_id: rows_in(pg, f"rows_{pipeline_id}"),
        expected={(name, f"{name}_{i:09d}") for name, count in FIXTURE_STREAMS.items() for i in range(count)},
    )


STRIPE_STREAMS = {"customer": 230, "invoice": 150, "product": 20}
"""Sizes that make several pages per stream (a page is 100 objects), so batches of two checkpoints
stop mid-stream, while the whole sync stays under a second."""
STRIPE_OTHER_OBJECTS = 100  # spread over the other streams, which these pipelines do not select


def destination_schema(pg: PgTestDatabase, pipeline_id: str) -> str:
    """The PostgreSQL schema a Stripe scenario's pipeline writes to: one per pipeline, per test."""
    return f"{pg.schema}_{pipeline_id}"


def postgres_rows(pg: PgTestDatabase, schema: str) -> set[tuple[str, str]]:
    """``(stream, id)`` of every row in every table the ``postgres`` destination made in ``schema``."""
    with pg.connect() as connection:
        registry = connection.execute("SELECT to_regclass(%s)", (f'"{schema}"."_sync_tables"',)).fetchone()
        if registry is None or registry[0] is None:
            return set()
        tables = connection.execute(
            sql.SQL("SELECT stream, table_name FROM {}").format(sql.Identifier(schema, "_sync_tables"))
        ).fetchall()
        rows: set[tuple[str, str]] = set()
        for stream, table in tables:
            ids = connection.execute(sql.SQL("SELECT id FROM {}").format(sql.Identifier(schema, table)))
            rows |= {(str(stream), str(id_)) for (id_,) in ids.fetchall()}
        return rows


def start_scenario_emulator(request: pytest.FixtureRequest) -> RunningEmulator:
    """An emulator with a few hundred objects in ``STRIPE_STREAMS``, its key in ``STRIPE_API_KEY``."""
    emulator: RunningEmulator = request.getfixturevalue("stripe_emulator_factory")(
        objects=STRIPE_OTHER_OBJECTS, seed=7, counts=STRIPE_STREAMS
    )
    request.getfixturevalue("cli_environ")["STRIPE_API_KEY"] = emulator.secret_key
    return emulator


def stripe_create_args(emulator: RunningEmulator, schema: str) -> list[str]:
    """``pipelines create`` arguments for the emulator's account into ``schema`` of the test server.

    The rate limit is raised from the test-mode default (20 requests/s, for real Stripe) because
    the emulator is local; everything else is the source's and destination's defaults.
    """
    return [
        "--source", "stripe",
        "--source.api-key-env", "STRIPE_API_KEY",
        "--source.base-url", emulator.base_url,
        "--source.rate-limit", "1000",
        "--destination", "postgres",
        "--destination.url-env", DEST_URL_ENV,
        "--destination.schema", schema,
        "--streams", ",".join(STRIPE_STREAMS),
    ]  # fmt: skip


def stripe_emulator_to_postgres(request: pytest.FixtureRequest) -> PipelineScenario:
    """The emulator's account (real HTTP, the real stripe source) into the real Postgres destination."""
    pg: PgTestDatabase = request.getfixturevalue("pg")
    emulator = start_scenario_emulator(request)
    request.addfinalizer(lambda: drop_destination_schemas(pg))
    return PipelineScenario(
        name="stripe-emulator-to-postgres",
        create_args=lambda pipeline_id: stripe_create_args(emulator, destination_schema(pg, pipeline_id)),
        rows=lambda pipeline_id: postgres_rows(pg, destination_schema(pg, pipeline_id)),
        expected={(stream, obj["id"]) for stream in STRIPE_STREAMS for obj in emulator.objects(stream)},
    )


def drop_destination_schemas(pg: PgTestDatabase) -> None:
    """Drop the schemas the test's pipelines wrote to (``pg`` drops only its own schema)."""
    with pg.connect() as connection:
        schemas = connection.execute(
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, %s)", (f"{pg.schema}_",)
        ).fetchall()
        for (schema,) in schemas:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


SCENARIOS: dict[str, Callable[[pytest.FixtureRequest], PipelineScenario]] = {
    "fixture-to-rows": fixture_to_rows,
    "stripe-emulator-to-postgres": stripe_emulator_to_postgres,
}


@pytest.fixture(params=sorted(SCENARIOS))
def pipeline_scenario(request: pytest.FixtureRequest) -> PipelineScenario:
    return SCENARIOS[request.param](request)
