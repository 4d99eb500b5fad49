"""No command ever prints a secret: a whole session is run and everything it printed is grepped.

The session gives every kind of secret as plaintext on the command line (an API key, webhook
signing secrets, a nested password, a database URL with a password), then lists, gets, checks,
syncs, updates, fails and debugs, in human and JSON modes, with info and debug logs on.
"""

from __future__ import annotations

import pytest

from sync_platform_tests.cli.conftest import CliInvoker
from sync_platform_tests.plugins.pipelines import DB_PASSWORD, STRIPE_KEY, WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase

NEW_KEY = "rk_live_RotatedKeyThatMustNotLeak99"
OLD_WEBHOOK_SECRET = "whsec_RetiringSecretThatMustNotLeak"
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

    assert all(result.exit_code != 0 for result in failures)
    assert any("Traceback" in result.stderr for result in failures)  # --debug did show tracebacks
    transcript = "\n".join(cli.transcript)
    leaked = [secret for secret in SECRETS if secret in transcript]
    assert leaked == []
    assert "***" in transcript
