"""No command ever prints a secret: a whole session is run and everything it printed is grepped.

The session gives every kind of secret as plaintext on the command line (an API key, webhook
signing secrets, a nested password, a database URL with a password), then lists, gets, checks,
syncs, updates, fails and debugs, in human and JSON modes, with info and debug logs on. It runs
twice: over test connectors, and over the real ``stripe`` source (the emulator's key, over HTTP,
with the stripe SDK's own debug logs) and ``postgres`` destination (a login role with a password).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
from psycopg import sql

from sync_platform.emulator import RunningEmulator
from sync_platform_tests.cli.conftest import (
    STRIPE_OTHER_OBJECTS,
    STRIPE_STREAMS,
    CliInvoker,
    destination_schema,
    drop_destination_schemas,
)
from sync_platform_tests.plugins.pipelines import DB_PASSWORD, STRIPE_KEY, WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase

NEW_KEY = "rk_live_" + "RotatedKeyThatMustNotLeak99"
OLD_WEBHOOK_SECRET = "whsec_" + "RetiringSecretThatMustNotLeak"
DSN_PASSWORD = "pg-pass-Tr0ub4dor-3"
NULL = ("--destination", "null")
SECRETS = (STRIPE_KEY, NEW_KEY, WEBHOOK_SECRET, OLD_WEBHOOK_SECRET, DB_PASSWORD, DSN_PASSWORD)


@pytest.fixture
def dsn_with_password(pg: PgTestDatabase) -> str:
    """The test server's URL with a password in it (local socket auth ignores it, so it still works)."""
    assert "postgres:@" in pg.url
    return pg.url.replace("postgres:@", f"postgres:{DSN_PASSWORD}@")


def test_no_output_of_any_command_contains_a_secret(
    cli: CliInvoker, pg: PgTestDatabase, dsn_with_password: str
) -> None:
    cli.ok(
        "-v", "pipelines", "create", "--id", "shop",
        "--source", "secretive", "--source.api-key", STRIPE_KEY,
        "--source.webhook-secret", f'["{WEBHOOK_SECRET}", "{OLD_WEBHOOK_SECRET}"]',
        "--source.credentials.password", DB_PASSWORD, "--source.streams", '{"customer": 12}',
        "--destination", "rows", "--destination.dsn", dsn_with_password,
        "--destination.schema-name", pg.schema,
    )  # fmt: skip
    cli.ok("--json", "pipelines", "create", "--id", "shop-json", "--source", "secretive",
           "--source.api-key", STRIPE_KEY, "--destination", "null")  # fmt: skip
    for command in (
        ("pipelines", "list"),
        ("pipelines", "list", "--json"),
        ("pipelines", "get", "shop"),
        ("pipelines", "get", "shop", "--json"),
        ("-v", "pipelines", "check", "shop"),
        ("pipelines", "check", "shop", "--json"),
        ("-v", "sync", "shop"),
        ("sync", "shop", "--json"),
        ("sync", "shop", "--raw"),
        ("--debug", "sync-batch", "shop", "--state-limit", "1", "--loop", "2"),
        ("sync-batch", "shop", "--raw", "--reset-state", "--loop", "0"),
        ("pipelines", "update", "shop", "--source.api-key", NEW_KEY),
        ("--debug", "pipelines", "update", "shop", "--source.state-every", "4", "--json"),
        ("pipelines", "pause", "shop"),
        ("pipelines", "resume", "shop", "--json"),
    ):
        cli.ok(*command)
    unreachable = dsn_with_password.replace("host=", "host=/nonexistent")
    failing_commands = [
        ("pipelines", "create", "--source", "rejecting", "--source.api-key", STRIPE_KEY, *NULL),
        ("--debug", "pipelines", "create", "--source", "rejecting", "--source.api-key", NEW_KEY, *NULL),
        ("--json", "pipelines", "create", "--source", "rejecting", "--source.api-key", STRIPE_KEY, *NULL),
        ("pipelines", "create", "--source", "fixture", "--destination", "rows",
         "--destination.dsn", unreachable),
        ("--debug", "pipelines", "create", "--source", "fixture", "--destination", "rows",
         "--destination.dsn", f"postgresql://u:{DSN_PASSWORD}@127.0.0.1:1/x"),
    ]  # fmt: skip
    failures = [cli(*command) for command in failing_commands]
    cli.ok("pipelines", "delete", "shop")
    failures.append(cli("--debug", "pipelines", "update", "shop", "--source.api-key", NEW_KEY))

    assert all(result.exit_code != 0 for result in failures), [r.stderr for r in failures]
    assert any("Traceback" in result.stderr for result in failures)  # --debug did show tracebacks
    transcript = "\n".join(cli.transcript)
    leaked = [secret for secret in SECRETS if secret in transcript]
    assert leaked == []
    assert "***" in transcript


WRITER_PASSWORD = "writer-pw-Zx9q-Never-Printed"
WRONG_STRIPE_KEY = "sk_test_" + "WrongKeyTheEmulatorRefuses42"
STRIPE_WEBHOOK_SECRET = "whsec_" + "EmulatorPipelineSigningSecret77"


@pytest.fixture
def writer_url(pg: PgTestDatabase) -> Iterator[str]:
    """The test server's URL as a login role with a password, allowed to create schemas."""
    role = f"{pg.schema}_writer"
    with pg.connect() as connection:
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(WRITER_PASSWORD)
            )
        )
        grant = sql.SQL("GRANT CREATE ON DATABASE {} TO {}")
        [(database,)] = connection.execute("SELECT current_database()").fetchall()
        connection.execute(grant.format(sql.Identifier(str(database)), sql.Identifier(role)))
    parts = urlsplit(pg.url)
    netloc = f"{role}:{WRITER_PASSWORD}@{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    yield urlunsplit(parts._replace(netloc=netloc))
    drop_destination_schemas(pg)
    with pg.connect() as connection:
        connection.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_no_output_of_a_stripe_to_postgres_session_contains_a_secret(
    cli: CliInvoker,
    pg: PgTestDatabase,
    writer_url: str,
    stripe_emulator_factory: Callable[..., RunningEmulator],
) -> None:
    """The emulator's real key, a wrong key it refuses, and a Postgres password, through every path."""
    emulator = stripe_emulator_factory(objects=STRIPE_OTHER_OBJECTS, seed=7, counts=STRIPE_STREAMS)
    key = emulator.secret_key
    stripe = ("--source", "stripe", "--source.base-url", emulator.base_url, "--source.rate-limit", "1000")
    postgres = ("--destination", "postgres", "--destination.url", writer_url)
    streams = ("--streams", ",".join(STRIPE_STREAMS))
    cli.ok(
        "-v", "pipelines", "create", "--id", "shop", *stripe, "--source.api-key", key,
        "--source.webhook-secret", STRIPE_WEBHOOK_SECRET, *postgres,
        "--destination.schema", destination_schema(pg, "shop"), *streams,
    )  # fmt: skip
    cli.ok(
        "--json", "pipelines", "create", "--id", "shop-json", *stripe, "--source.api-key", key,
        "--destination", "postgres", "--destination.url", writer_url.replace(f":{WRITER_PASSWORD}@", "@"),
        "--destination.password", WRITER_PASSWORD, "--destination.schema", destination_schema(pg, "json"),
    )  # fmt: skip
    for command in (
        ("pipelines", "list"),
        ("pipelines", "list", "--json"),
        ("pipelines", "get", "shop"),
        ("pipelines", "get", "shop-json", "--json"),
        ("-v", "pipelines", "check", "shop"),
        ("--debug", "pipelines", "check", "shop-json", "--json"),
        ("-v", "sync", "shop"),
        ("--debug", "sync", "shop", "--json"),
        ("--debug", "sync-batch", "shop", "--state-limit", "1", "--loop", "2"),
        ("sync-batch", "shop", "--raw", "--reset-state", "--loop", "0"),
        ("--debug", "sync-batch", "shop-json", "--raw", "--loop", "0"),
    ):
        cli.ok(*command)
    unreachable = f"postgresql://writer:{WRITER_PASSWORD}@127.0.0.1:1/nowhere"
    failures = [
        cli("pipelines", "create", *stripe, "--source.api-key", WRONG_STRIPE_KEY, *postgres),
        cli("--debug", "pipelines", "create", *stripe, "--source.api-key", WRONG_STRIPE_KEY, *postgres),
        cli("--json", "pipelines", "create", *stripe, "--source.api-key", WRONG_STRIPE_KEY, *postgres),
        cli("--debug", "pipelines", "create", *stripe, "--source.api-key", key,
            "--destination", "postgres", "--destination.url", unreachable),
        cli("-v", "pipelines", "create", *stripe, "--source.api-key", key, "--destination", "postgres",
            "--destination.url", writer_url.replace(f":{WRITER_PASSWORD}@", ":wrong-and-secret@"),
            "--destination.password", WRITER_PASSWORD, "--destination.port", "1"),
    ]  # fmt: skip
    cli.ok("pipelines", "update", "shop", "--source.api-key", WRONG_STRIPE_KEY)
    failures.append(cli("--debug", "sync", "shop", "--lane", "poll", "--json"))
    failures.append(cli("-v", "sync-batch", "shop", "--reset-state", "--raw"))
    cli.ok("pipelines", "update", "shop-json", "--destination.port", "1")
    failures.append(cli("--debug", "sync", "shop-json", "--reset-state"))
    cli.ok("pipelines", "delete", "shop")
    failures.append(cli("--debug", "pipelines", "update", "shop", "--source.api-key", key))

    assert all(result.exit_code != 0 for result in failures), [r.stderr for r in failures]
    assert any("Traceback" in result.stderr for result in failures)  # --debug did show tracebacks
    transcript = "\n".join(cli.transcript)
    secrets = (key, WRONG_STRIPE_KEY, STRIPE_WEBHOOK_SECRET, WRITER_PASSWORD, "wrong-and-secret")
    assert [secret for secret in secrets if secret in transcript] == []
    assert "***" in transcript
