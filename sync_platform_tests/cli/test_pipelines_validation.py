"""``pipelines create`` / ``update`` refuse, in one line and before storing anything, what the store
refuses: unknown streams, no streams, and configs the connector's own validator rejects, whether or
not the connection check is skipped."""

from __future__ import annotations

import json

import pytest

from sync_platform.cli import EXIT_BAD_INPUT
from sync_platform_tests.cli.conftest import DEST_URL_ENV, SECRETIVE, CliInvoker, get

STRIPE = ("--source", "stripe", "--source.api-key-env", "STRIPE_API_KEY")
POSTGRES = ("--destination", "postgres", "--destination.url-env", DEST_URL_ENV)
LONG_SCHEMA = "é" * 32  # 32 characters, 64 bytes: PostgreSQL names hold 63


def error_line(stderr: str) -> str:
    [line] = stderr.strip().splitlines()
    return line


def stored_ids(cli: CliInvoker) -> list[str]:
    return [pipeline["id"] for pipeline in json.loads(cli.ok("pipelines", "list", "--all", "--json").stdout)]


def test_create_refuses_an_unknown_stream_with_a_suggestion_and_stores_nothing(cli: CliInvoker) -> None:
    result = cli(
        "pipelines", "create", "--id", "shop", *STRIPE, *POSTGRES,
        "--streams", "customr,invoice", "--skip-check",
    )  # fmt: skip

    assert result.exit_code == EXIT_BAD_INPUT
    line = error_line(result.stderr)
    assert line.startswith(
        "Error: Stream 'customr' is not in the catalog of source 'stripe'. Did you mean 'customer'?"
    )
    assert "`sync-platform streams --source stripe`" in line
    assert stored_ids(cli) == []


def test_update_refuses_an_unknown_stream_and_keeps_the_pipeline_as_it_was(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *STRIPE, *POSTGRES, "--streams", "customer", "--skip-check")
    before = get(cli, "shop")

    result = cli("pipelines", "update", "shop", "--streams", "customer,invoce")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "Stream 'invoce' is not in the catalog of source 'stripe'. Did you mean 'invoice'?" in (
        error_line(result.stderr)
    )
    assert get(cli, "shop") == before


def test_create_refuses_an_empty_stream_list_instead_of_syncing_everything(cli: CliInvoker) -> None:
    result = cli("pipelines", "create", "--id", "shop", *STRIPE, *POSTGRES, "--streams", "", "--skip-check")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "`streams` is an empty list, so it would sync nothing" in error_line(result.stderr)
    assert stored_ids(cli) == []


def test_update_refuses_an_empty_stream_list(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *STRIPE, *POSTGRES, "--streams", "customer", "--skip-check")
    before = get(cli, "shop")

    result = cli("pipelines", "update", "shop", "--streams", " , ")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "`streams` is an empty list" in error_line(result.stderr)
    assert get(cli, "shop") == before


def test_streams_and_all_streams_together_are_a_usage_error_even_when_empty(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *STRIPE, *POSTGRES, "--skip-check")

    result = cli("pipelines", "update", "shop", "--streams", "", "--all-streams")

    assert result.exit_code == EXIT_BAD_INPUT
    assert "Give --streams or --all-streams, not both." in result.stderr


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        pytest.param(
            (*POSTGRES, "--destination.schema", LONG_SCHEMA),
            "Error: Invalid postgres destination config at 'schema': must be at most 63 bytes",
            id="schema-over-63-bytes",
        ),
        pytest.param(
            ("--destination", "postgres", "--destination.schema", "shop"),
            "Error: The postgres destination needs a server: set `url`",
            id="neither-url-nor-host",
        ),
    ],
)
def test_skip_check_still_refuses_a_postgres_config_the_destination_rejects(
    cli: CliInvoker, destination: tuple[str, ...], message: str
) -> None:
    result = cli("pipelines", "create", "--id", "shop", *STRIPE, *destination, "--skip-check")

    assert result.exit_code == EXIT_BAD_INPUT
    assert error_line(result.stderr).startswith(message)
    assert stored_ids(cli) == []


def test_a_config_the_destination_rejects_is_refused_before_any_connection_is_tried(cli: CliInvoker) -> None:
    """Nothing listens on port 1: a connection check would fail (exit 1) and blame the network."""
    result = cli(
        "pipelines", "create", "--id", "shop", *SECRETIVE, "--destination", "postgres",
        "--destination.url", "postgresql://app@127.0.0.1:1/none", "--destination.schema", LONG_SCHEMA,
    )  # fmt: skip

    assert result.exit_code == EXIT_BAD_INPUT
    assert "at 'schema': must be at most 63 bytes" in error_line(result.stderr)
    assert "check failed" not in result.stderr
    assert stored_ids(cli) == []


def test_update_refuses_an_over_long_schema(cli: CliInvoker) -> None:
    cli.ok("pipelines", "create", "--id", "shop", *STRIPE, *POSTGRES, "--skip-check")
    before = get(cli, "shop")

    result = cli("pipelines", "update", "shop", "--destination.schema", LONG_SCHEMA)

    assert result.exit_code == EXIT_BAD_INPUT
    assert "at 'schema': must be at most 63 bytes" in error_line(result.stderr)
    assert get(cli, "shop") == before
