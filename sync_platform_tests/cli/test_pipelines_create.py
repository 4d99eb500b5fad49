"""``sync-platform pipelines create``: flags, files, checks, and the errors a user can make."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from sync_platform.cli import EXIT_BAD_INPUT, EXIT_CONFLICT, EXIT_FAILED
from sync_platform.emulator import RunningEmulator
from sync_platform_tests.cli.conftest import DEST_URL_ENV, NULL, SECRETIVE, CliInvoker, get
from sync_platform_tests.plugins.pipelines import STRIPE_KEY, WEBHOOK_SECRET


def test_create_with_shorthand_flags_stores_typed_fields_and_an_env_reference(cli: CliInvoker) -> None:
    cli.ok(
        "pipelines", "create", "--id", "shop", *SECRETIVE, *NULL,
        "--source.streams", '{"customer": 3}', "--source.state-every", "2", "--source.poll-events", "true",
        "--source.account_id", "acct_42",
    )  # fmt: skip

    source = get(cli, "shop")["source"]["secretive"]
    assert source["api_key"] == {"env": "STRIPE_API_KEY"}
    assert (source["streams"], source["state_every"], source["poll_events"]) == ({"customer": 3}, 2, True)
    assert source["account_id"] == "acct_42"


def test_create_prints_the_checks_and_the_new_pipeline(cli: CliInvoker) -> None:
    result = cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    assert "✓ source/secretive: connected" in result.stdout
    assert "✓ destination/null: connected" in result.stdout
    assert "Created pipeline shop" in result.stdout


def test_create_json_prints_the_masked_pipeline(cli: CliInvoker) -> None:
    result = cli.ok(
        "--json",
        "pipelines",
        "create",
        "--id",
        "shop",
        *SECRETIVE,
        *NULL,
        "--source.webhook-secret",
        WEBHOOK_SECRET,
    )

    created = json.loads(result.stdout)
    assert created["id"] == "shop"
    assert created["source"]["secretive"]["webhook_secret"] == "***"
    assert (created["desired_status"], created["status"], created["display_status"]) == (
        "active",
        "setup",
        "setting_up",
    )


def test_create_generates_an_id_when_none_is_given(cli: CliInvoker) -> None:
    created = json.loads(cli.ok("pipelines", "create", *SECRETIVE, *NULL, "--json").stdout)

    assert created["id"].startswith("pipe_")


def test_create_from_a_yaml_file_with_flags_on_top(cli: CliInvoker, tmp_path: Path) -> None:
    document = {
        "id": "from-file",
        "source": {
            "type": "secretive",
            "secretive": {"api_key": {"env": "STRIPE_API_KEY"}, "state_every": 9},
        },
        "destination": {"type": "null"},
        "streams": ["customer"],
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document))

    cli.ok("pipelines", "create", "-f", str(path), "--source.state-every", "4")

    stored = get(cli, "from-file")
    assert stored["source"]["secretive"]["state_every"] == 4
    assert stored["streams"] == [{"name": "customer", "backfill_limit": None}]


def test_create_paused_and_with_selected_streams(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL, "--streams", "customer", "--paused")

    stored = get(cli, "shop")
    assert stored["desired_status"] == "paused"
    assert [s["name"] for s in stored["streams"]] == ["customer"]


def test_an_unknown_field_is_an_error_that_suggests_and_lists_the_valid_ones(cli: CliInvoker) -> None:
    result = cli("pipelines", "create", *SECRETIVE, *NULL, "--source.state-evry", "3")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "--source.state-evry: connector 'secretive' has no source field 'state_evry'." in result.stderr
    assert "Did you mean 'state_every'?" in result.stderr
    assert "Valid fields: --source.account-id, --source.api-key, --source.credentials" in result.stderr
    assert "Traceback" not in result.output


def test_env_is_only_for_secret_fields(cli: CliInvoker) -> None:
    result = cli("pipelines", "create", *SECRETIVE, *NULL, "--source.account-id-env", "ACCOUNT")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "'account_id' is not a secret field" in result.stderr
    assert "--source.account-id VALUE" in result.stderr


def test_a_nested_secret_can_come_from_the_environment(cli: CliInvoker) -> None:
    cli.ok(
        "pipelines", "create", "--id", "shop", *SECRETIVE, *NULL,
        "--source.credentials.user", "reader", "--source.credentials.password-env", "DB_PASSWORD",
        "--skip-check",
    )  # fmt: skip

    assert get(cli, "shop")["source"]["secretive"]["credentials"] == {
        "user": "reader",
        "password": {"env": "DB_PASSWORD"},
    }


def test_a_value_the_spec_refuses_names_the_field_and_never_the_value(cli: CliInvoker) -> None:
    refused = "pk_live_" + "notasecretkey"
    result = cli("pipelines", "create", "--source", "secretive", "--source.api-key", refused, *NULL)

    assert result.exit_code == EXIT_BAD_INPUT
    assert "'api_key'" in result.stderr
    assert refused not in result.output


def test_a_missing_destination_is_a_usage_error_listing_the_installed_ones(cli: CliInvoker) -> None:
    result = cli("pipelines", "create", *SECRETIVE)

    assert result.exit_code == EXIT_BAD_INPUT
    assert "Say which destination connector to use: --destination <name>" in result.stderr
    assert "null" in result.stderr


def test_an_unknown_connector_is_one_line_with_a_suggestion(cli: CliInvoker) -> None:
    result = cli("pipelines", "create", *SECRETIVE, "--destination", "nul")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "Unknown destination connector 'nul'. Did you mean 'null'?" in result.stderr


def test_a_failed_check_stores_nothing_and_says_which_side_failed(cli: CliInvoker) -> None:
    result = cli(
        "pipelines", "create", "--id", "shop", "--source", "rejecting", "--source.api-key", STRIPE_KEY, *NULL
    )

    assert result.exit_code == EXIT_FAILED
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: Source check failed (rejecting): Invalid API Key provided: sk_test_***")
    assert "--skip-check" in line
    assert STRIPE_KEY not in result.output
    assert cli("pipelines", "get", "shop").exit_code == EXIT_BAD_INPUT


def test_a_stripe_key_the_account_refuses_fails_the_check_with_one_readable_line(
    cli: CliInvoker, stripe_emulator: RunningEmulator
) -> None:
    wrong_key = "sk_test_" + "NotAKeyOfThisAccount1234"
    result = cli(
        "pipelines", "create", "--id", "shop", "--source", "stripe", "--source.api-key", wrong_key,
        "--source.base-url", stripe_emulator.base_url, "--destination", "postgres",
        "--destination.url-env", DEST_URL_ENV,
    )  # fmt: skip

    assert result.exit_code == EXIT_FAILED
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: Source check failed (stripe): Stripe GET /v1/account failed (HTTP 401")
    assert "Invalid API Key provided: sk_test_***" in line
    assert ".. " not in line  # one full stop between the connector's sentence and ours
    assert wrong_key not in result.output
    assert cli("pipelines", "get", "shop").exit_code == EXIT_BAD_INPUT


def test_a_destination_that_cannot_connect_fails_the_check(cli: CliInvoker) -> None:
    result = cli(
        "pipelines", "create", *SECRETIVE, "--destination", "rows",
        "--destination.dsn", "postgresql://app:hunter2@127.0.0.1:1/none",
    )  # fmt: skip

    assert result.exit_code == EXIT_FAILED
    assert "Destination check failed (rows): cannot connect" in result.stderr
    assert "hunter2" not in result.output


def test_skip_check_stores_a_pipeline_whose_check_would_fail(cli: CliInvoker) -> None:
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

    assert get(cli, "shop")["source"]["rejecting"]["api_key"] == "***"


def test_an_unset_env_secret_stops_the_check_with_a_hint(cli: CliInvoker) -> None:
    result = cli(
        "pipelines", "create", "--source", "secretive", "--source.api-key-env", "NOT_SET_ANYWHERE", *NULL
    )

    assert result.exit_code == EXIT_BAD_INPUT
    assert "NOT_SET_ANYWHERE, which is not set" in result.stderr
    assert "Hint: Export NOT_SET_ANYWHERE in this shell" in result.stderr


def test_a_taken_id_is_a_conflict(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    result = cli("pipelines", "create", "--id", "shop", *SECRETIVE, *NULL)

    assert result.exit_code == EXIT_CONFLICT
    assert "Pipeline 'shop' already exists" in result.stderr
