"""``sync-platform --remote URL``: the same commands against a running service print the same thing
and exit with the same codes as they do against the app database directly.

The local CLI and the service share one app database here, so every command can be run both ways
on the same pipeline and their outputs compared line for line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from sync_platform.cli import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_FAILED, CliContext
from sync_platform_tests.cli.conftest import CliInvoker, CliResult, cli_registry, rows_in
from sync_platform_tests.plugins.pipelines import STRIPE_KEY
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.service.conftest import RunningService

TOKEN_ENV = "TEST_SERVICE_TOKEN"


@dataclass
class RemoteInvoker(CliInvoker):
    """``CliInvoker`` that puts ``--remote URL --token-env NAME`` before every command."""

    base: list[str] = field(default_factory=list)

    def __call__(self, *args: str) -> CliResult:
        return super().__call__(*self.base, *args)


@pytest.fixture
def remote(service: RunningService, cli_environ: dict[str, str]) -> RemoteInvoker:
    """The CLI aimed at the service, with the admin token in ``TEST_SERVICE_TOKEN``."""
    registry = cli_registry()
    environ = {**cli_environ, TOKEN_ENV: service.admin_token}
    return RemoteInvoker(
        lambda: CliContext(registry=registry, environ=environ),
        base=["--remote", service.url, "--token-env", TOKEN_ENV],
    )


def create_args(pg: PgTestDatabase, pipeline_id: str) -> list[str]:
    return [
        "pipelines", "create", "--id", pipeline_id,
        "--source", "secretive", "--source.api-key-env", "STRIPE_API_KEY",
        "--source.streams", '{"customer": 23, "invoice": 7}', "--source.state-every", "3",
        "--destination", "rows", "--destination.dsn-env", "TEST_ROWS_DSN",
        "--destination.schema-name", pg.schema, "--destination.table", f"rows_{pipeline_id}",
    ]  # fmt: skip


def test_pipelines_commands_print_the_same_remotely(
    cli: CliInvoker, remote: CliInvoker, pg: PgTestDatabase
) -> None:
    created = remote.ok(*create_args(pg, "shop"))
    assert "✓ source/secretive: connected" in created.stdout
    assert "Created pipeline shop" in created.stdout

    same = [
        ["pipelines", "get", "shop", "--json"],
        ["pipelines", "get", "shop"],
        ["pipelines", "list", "--json"],
        ["pipelines", "list"],
        ["pipelines", "check", "shop", "--json"],
    ]
    for command in same:
        local, far = cli.ok(*command), remote.ok(*command)
        assert far.stdout == local.stdout, command

    updated = remote.ok(
        "pipelines", "update", "shop", "--streams", "customer", "--expected-version", "1", "--json"
    )
    assert json.loads(updated.stdout)["streams"] == [{"name": "customer", "backfill_limit": None}]
    paused = remote.ok("pipelines", "pause", "shop")
    assert paused.stdout.strip() == "Pipeline shop paused: desired_status paused, shown as pausing."
    assert remote.ok("pipelines", "resume", "shop").stdout == cli.ok("pipelines", "resume", "shop").stdout


def test_errors_exit_with_the_same_code_and_words_remotely(
    cli: CliInvoker, remote: CliInvoker, pg: PgTestDatabase
) -> None:
    cli.ok(*create_args(pg, "shop"))
    cases = [
        (["pipelines", "get", "nope"], EXIT_BAD_INPUT),
        (["pipelines", "update", "shop", "--streams", "customer", "--expected-version", "9"], EXIT_CONFLICT),
        (
            [
                "pipelines",
                "create",
                "--source",
                "secretive",
                "--source.api-key",
                "oops",
                "--destination",
                "null",
            ],
            2,
        ),
    ]
    for command, code in cases:
        local, far = cli(*command), remote(*command)
        assert (local.exit_code, far.exit_code) == (code, code), command
        assert far.stderr == local.stderr, command
    cli.ok("pipelines", "delete", "shop")
    local, far = cli("pipelines", "resume", "shop"), remote("pipelines", "resume", "shop")
    assert (local.exit_code, far.exit_code) == (EXIT_CONFLICT, EXIT_CONFLICT)
    assert far.stderr == local.stderr
    local, far = cli("pipelines", "get", "nope", "--json"), remote("pipelines", "get", "nope", "--json")
    assert json.loads(far.stderr) == json.loads(local.stderr)  # the error's type survives the trip
    rejecting = [
        "pipelines",
        "create",
        "--source",
        "rejecting",
        "--source.api-key",
        STRIPE_KEY,
        "--destination",
        "null",
    ]
    local, far = cli(*rejecting), remote(*rejecting)
    assert (local.exit_code, far.exit_code) == (EXIT_FAILED, EXIT_FAILED)
    assert far.stderr == local.stderr
    assert STRIPE_KEY not in far.stderr + far.stdout


def test_sync_batch_and_sync_run_on_the_service_and_print_as_locally(
    cli: CliInvoker, remote: CliInvoker, pg: PgTestDatabase
) -> None:
    cli.ok(*create_args(pg, "near"))
    cli.ok(*create_args(pg, "far"))

    local = cli.ok("sync-batch", "near", "--state-limit", "2", "--loop", "0", "--raw")
    far = remote.ok("sync-batch", "far", "--state-limit", "2", "--loop", "0", "--raw")

    def shape(stdout: str) -> list[tuple[bool, int]]:
        eofs = [json.loads(line) for line in stdout.splitlines()]
        return [(e["has_more"], e["request_progress"]["derived"]["total_record_count"]) for e in eofs]

    assert shape(far.stdout) == shape(local.stdout)
    assert len(rows_in(pg, "rows_far")) == len(rows_in(pg, "rows_near")) == 30
    again = remote.ok("sync", "far")
    assert "Final status: succeeded" in again.stderr
    assert "backfill lane of far (ready)" in again.stderr
    remote.ok("pipelines", "pause", "far")
    refused = remote("sync-batch", "far")
    assert refused.exit_code == EXIT_CONFLICT
    assert refused.stderr == cli("sync-batch", "far").stderr


def test_remote_needs_a_token_and_a_reachable_service(
    service: RunningService, cli_environ: dict[str, str]
) -> None:
    registry = cli_registry()

    def run(environ: dict[str, str], url: str, *args: str) -> CliResult:
        return CliInvoker(lambda: CliContext(registry=registry, environ=environ))(
            "--remote", url, "--token-env", TOKEN_ENV, *args
        )

    unset = run(cli_environ, service.url, "pipelines", "list")
    assert unset.exit_code == EXIT_BAD_INPUT
    assert f"environment variable {TOKEN_ENV}, which is not set" in unset.stderr
    wrong = run({**cli_environ, TOKEN_ENV: "spt_wrong"}, service.url, "pipelines", "list")
    assert wrong.exit_code == EXIT_BAD_INPUT
    assert "The API token is not valid" in wrong.stderr
    read_only = run({**cli_environ, TOKEN_ENV: service.read_token}, service.url, "pipelines", "pause", "x")
    assert read_only.exit_code == EXIT_BAD_INPUT
    assert "read-only" in read_only.stderr
    gone = run({**cli_environ, TOKEN_ENV: service.admin_token}, "http://127.0.0.1:9", "pipelines", "list")
    assert gone.exit_code == EXIT_FAILED
    assert "Cannot reach the sync-platform service at http://127.0.0.1:9" in gone.stderr
    local_only = run({**cli_environ, TOKEN_ENV: service.admin_token}, service.url, "demo")
    assert local_only.exit_code == EXIT_BAD_INPUT
    assert "cannot be used with --remote" in local_only.stderr
