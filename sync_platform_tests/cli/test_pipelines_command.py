"""``sync-platform pipelines list|get|update|pause|resume|delete|check`` against real PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sync_platform.cli import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_FAILED
from sync_platform_tests.cli.conftest import NULL, ROWS_DSN_ENV, SECRETIVE, CliInvoker, get
from sync_platform_tests.plugins.pipelines import STRIPE_KEY, WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase

# --- list and get --------------------------------------------------------------------------------


def test_list_shows_pipelines_and_hides_deleted_ones_unless_asked(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "alpha", *SECRETIVE, *NULL)
    cli.ok("pipelines", "create", "--id", "bravo", *SECRETIVE, *NULL)
    cli.ok("pipelines", "delete", "bravo")

    table = cli.ok("pipelines", "list").stdout
    listed = [p["id"] for p in json.loads(cli.ok("pipelines", "list", "--json").stdout)]
    everything = [p["id"] for p in json.loads(cli.ok("pipelines", "list", "--all", "--json").stdout)]

    assert "alpha" in table
    assert "bravo" not in table
    assert listed == ["alpha"]
    assert everything == ["alpha", "bravo"]


def test_list_with_no_pipelines_says_how_to_create_one(cli: CliInvoker) -> None:
    assert "sync-platform pipelines create" in cli.ok("pipelines", "list").stdout
    assert json.loads(cli.ok("pipelines", "list", "--json").stdout) == []


def test_get_shows_status_configs_and_the_webhook_backlog(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    table = cli.ok("pipelines", "get", "shop").stdout
    data = get(cli, "shop")

    assert "setting_up" in table
    assert "STRIPE_API_KEY" in table
    assert "0 pending" in table
    assert data["pending_webhook_events"] == 0


def test_get_of_an_unknown_pipeline_is_one_line_with_the_next_step(cli: CliInvoker) -> None:
    result = cli("pipelines", "get", "ghost")

    assert result.exit_code == EXIT_BAD_INPUT
    assert result.stderr.strip() == (
        "Error: Pipeline 'ghost' not found. List pipelines with `sync-platform pipelines list`."
    )


def test_errors_are_json_on_stderr_in_json_mode(cli: CliInvoker) -> None:
    result = cli("pipelines", "get", "ghost", "--json")

    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert (error["type"], error["exit_code"]) == ("PipelineNotFoundError", EXIT_BAD_INPUT)
    assert "'ghost' not found" in error["message"]


# --- update and lifecycle ------------------------------------------------------------------------


def test_update_edits_fields_and_keeps_the_stored_secrets(cli: CliInvoker) -> None:
    cli.ok(
        "pipelines", "create", "--id", "shop", *SECRETIVE, *NULL, "--source.webhook-secret", WEBHOOK_SECRET
    )
    before = get(cli, "shop")

    cli.ok("pipelines", "update", "shop", "--source.state-every", "7", "--streams", "customer")

    after = get(cli, "shop")
    assert after["source"]["secretive"]["state_every"] == 7
    assert after["source"]["secretive"]["api_key"] == {"env": "STRIPE_API_KEY"}
    assert after["source"]["secretive"]["webhook_secret"] == "***"
    assert [s["name"] for s in after["streams"]] == ["customer"]
    assert after["version"] == before["version"] + 1
    cli.ok("sync", "shop")  # the kept secrets still resolve for a run


def test_update_can_return_to_all_streams(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL, "--streams", "customer")

    cli.ok("pipelines", "update", "shop", "--all-streams")

    assert get(cli, "shop")["streams"] is None


def test_update_can_switch_the_destination_connector(cli: CliInvoker, pg: PgTestDatabase) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    cli.ok(
        "pipelines", "update", "shop", "--destination", "rows", "--destination.dsn-env", ROWS_DSN_ENV,
        "--destination.schema-name", pg.schema,
    )  # fmt: skip

    assert get(cli, "shop")["destination"] == {
        "type": "rows",
        "rows": {"dsn": {"env": ROWS_DSN_ENV}, "schema_name": pg.schema, "table": "rows"},
    }


def test_update_with_nothing_to_change_is_a_usage_error(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    result = cli("pipelines", "update", "shop")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "Nothing to update" in result.stderr


def test_update_with_a_stale_expected_version_is_a_conflict(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)
    cli.ok("pipelines", "pause", "shop")

    result = cli("pipelines", "update", "shop", "--source.state-every", "3", "--expected-version", "1")

    assert result.exit_code == EXIT_CONFLICT
    assert "you had version 1, it is now 2" in result.stderr


def test_pause_and_resume_change_the_desired_status(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    paused = cli.ok("pipelines", "pause", "shop")
    assert "desired_status paused, shown as pausing" in paused.stdout
    assert get(cli, "shop")["desired_status"] == "paused"

    resumed = json.loads(cli.ok("pipelines", "resume", "shop", "--json").stdout)
    assert resumed["desired_status"] == "active"


def test_delete_asks_for_teardown_and_then_update_is_a_conflict(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    deleted = cli.ok("pipelines", "delete", "shop")
    result = cli("pipelines", "update", "shop", "--source.state-every", "3")

    assert "desired_status deleted, shown as tearing_down" in deleted.stdout
    assert result.exit_code == EXIT_CONFLICT
    assert result.stderr.strip() == (
        "Error: Pipeline 'shop' is deleted, and deleted is terminal: it cannot be updated. "
        "Create a new pipeline instead."
    )


@pytest.mark.parametrize(
    ("command", "verb"),
    [
        (("pipelines", "resume", "shop"), "it cannot be resumed"),
        (("pipelines", "pause", "shop"), "it cannot be paused"),
        (("pipelines", "check", "shop"), "it cannot be checked"),
        (("sync", "shop"), "it is deleted, and deleted is terminal"),
        (("sync-batch", "shop"), "it is deleted, and deleted is terminal"),
        (("sync", "shop", "--force"), "it is deleted, and deleted is terminal"),
    ],
)
def test_a_deleted_pipeline_cannot_be_resumed_paused_checked_or_synced(
    cli: CliInvoker, command: tuple[str, ...], verb: str
) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)
    cli.ok("pipelines", "delete", "shop")

    result = cli(*command)

    assert result.exit_code == EXIT_CONFLICT
    assert verb in result.stderr


def test_deleting_twice_is_fine(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)
    cli.ok("pipelines", "delete", "shop")

    assert cli("pipelines", "delete", "shop").exit_code == 0


# --- check ---------------------------------------------------------------------------------------


def test_check_reports_each_side(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    human = cli.ok("pipelines", "check", "shop").stdout
    machine = json.loads(cli.ok("pipelines", "check", "shop", "--only", "source", "--json").stdout)

    assert "✓ source/secretive: connected" in human
    assert "✓ destination/null: connected" in human
    assert machine == [{"side": "source", "connector": "secretive", "status": "succeeded", "message": None}]


def test_check_exits_1_when_a_side_fails(cli: CliInvoker) -> None:
    cli.ok(
        "pipelines",
        "create",
        "--id",
        "shop",
        "--source",
        "rejecting",
        "--source.api-key",
        STRIPE_KEY,
        *NULL,
        "--skip-check",
    )

    result = cli("pipelines", "check", "shop")

    assert result.exit_code == EXIT_FAILED
    assert "✗ source/rejecting: Invalid API Key provided: sk_test_***" in result.stdout
    assert "✓ destination/null: connected" in result.stdout
    assert STRIPE_KEY not in result.output


def test_update_from_a_file_replaces_the_sides_it_names(cli: CliInvoker, tmp_path: Path) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL, "--source.state-every", "9")
    path = tmp_path / "change.json"
    path.write_text(
        json.dumps({"source": {"type": "secretive", "secretive": {"api_key": {"env": "OTHER_KEY"}}}})
    )

    cli.ok("pipelines", "update", "shop", "-f", str(path))

    source = get(cli, "shop")["source"]["secretive"]
    assert source["api_key"] == {"env": "OTHER_KEY"}
    assert source["state_every"] == 5  # wholesale: the old value is gone, the connector's default applies
