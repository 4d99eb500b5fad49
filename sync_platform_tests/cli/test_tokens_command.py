"""``sync-platform tokens``: a token is printed once, listed by name and prefix, and revoked."""

from __future__ import annotations

import json

from sync_platform.cli import EXIT_BAD_INPUT, EXIT_CONFLICT
from sync_platform_tests.cli.conftest import CliInvoker


def test_tokens_are_created_once_listed_without_their_secret_and_revoked(cli: CliInvoker) -> None:
    created = cli.ok("tokens", "create", "--name", "laptop")
    secret = created.stdout.strip()
    assert secret.startswith("spt_")
    assert "shown only now" in created.stderr
    read = json.loads(cli.ok("tokens", "create", "--name", "dashboard", "--scope", "read", "--json").stdout)
    assert read["scope"] == "read"

    listed = cli.ok("tokens", "list")
    assert "laptop" in listed.stdout
    assert "dashboard" in listed.stdout
    assert secret not in listed.stdout
    prefixes = {t["name"]: t["prefix"] for t in json.loads(cli.ok("tokens", "list", "--json").stdout)}
    assert prefixes["laptop"] == secret[:10]
    assert cli("tokens", "create", "--name", "laptop").exit_code == EXIT_CONFLICT

    assert "Revoked token 'laptop'" in cli.ok("tokens", "revoke", "laptop").stdout
    assert [t["name"] for t in json.loads(cli.ok("tokens", "list", "--json").stdout)] == ["dashboard"]
    assert cli("tokens", "revoke", "laptop").exit_code == EXIT_BAD_INPUT
    assert all(secret not in output for output in cli.transcript[1:])


def test_cli_runs_are_recorded_in_the_pipelines_run_history(cli: CliInvoker) -> None:
    from sync_platform_tests.cli.conftest import NULL, SECRETIVE

    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)
    cli.ok("sync-batch", "shop", "--state-limit", "2", "--loop", "0")
    context = cli.context_factory()
    try:
        from sync_platform.pipelines.run_log import RunLog

        [run] = RunLog(context.store()).recent_runs("shop")
    finally:
        context.close()
    assert (run.origin.value, run.status.value, run.records) == ("cli", "succeeded", 5)
    assert run.holder is not None
    assert run.holder.startswith("sync-platform sync-batch (pid ")
