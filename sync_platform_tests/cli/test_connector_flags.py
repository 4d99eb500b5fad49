"""Connector shorthand flags: how ``--source.<field>`` arguments become config fields."""

from __future__ import annotations

from typing import Any

import click
import pytest

from sync_platform.cli.connector_flags import ConnectorFlag, apply_connector_flags, extract_connector_flags
from sync_platform.errors import ConfigError
from sync_platform_tests.plugins.pipelines import SecretiveSourceConfig

SCHEMA = SecretiveSourceConfig.model_json_schema()


def apply(*args: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    rest, flags = extract_connector_flags(list(args))
    assert rest == []
    return apply_connector_flags(config or {}, flags, schema=SCHEMA, connector="secretive")


def test_flags_are_taken_out_and_everything_else_is_left_for_click() -> None:
    rest, flags = extract_connector_flags(
        ["--id", "shop", "--source.api-key-env", "KEY", "--destination.schema=stripe", "--streams", "a"]
    )

    assert rest == ["--id", "shop", "--streams", "a"]
    assert flags == [
        ConnectorFlag("source", ("api_key_env",), "KEY", "--source.api-key-env"),
        ConnectorFlag("destination", ("schema",), "stripe", "--destination.schema"),
    ]


def test_a_value_that_looks_like_an_option_is_still_the_value() -> None:
    _, flags = extract_connector_flags(["--source.state-every", "-1"])

    assert flags[0].value == "-1"


def test_a_flag_without_a_value_is_a_usage_error() -> None:
    with pytest.raises(click.UsageError, match=r"--source\.api-key needs a value"):
        extract_connector_flags(["--source.api-key"])


def test_arguments_after_a_double_dash_are_not_flags() -> None:
    rest, flags = extract_connector_flags(["--", "--source.api-key", "x"])

    assert (rest, flags) == (["--", "--source.api-key", "x"], [])


def test_string_fields_keep_the_text_and_other_fields_are_json_parsed() -> None:
    config = apply(
        "--source.account-id", "123",
        "--source.state-every", "25",
        "--source.poll-events", "false",
        "--source.streams", '{"customer": 4}',
        "--source.webhook-secret", '["whsec_a", "whsec_b"]',
    )  # fmt: skip

    assert config == {
        "account_id": "123",
        "state_every": 25,
        "poll_events": False,
        "streams": {"customer": 4},
        "webhook_secret": ["whsec_a", "whsec_b"],
    }


def test_text_that_is_not_json_stays_text_even_where_json_is_allowed() -> None:
    assert apply("--source.webhook-secret", "whsec_plain")["webhook_secret"] == "whsec_plain"


def test_env_stores_a_reference_for_secret_fields_nested_ones_included() -> None:
    config = apply("--source.api-key-env", "STRIPE_API_KEY", "--source.credentials.password-env", "PGPASS")

    assert config == {"api_key": {"env": "STRIPE_API_KEY"}, "credentials": {"password": {"env": "PGPASS"}}}


def test_flags_edit_an_existing_config_and_the_last_one_wins() -> None:
    config = apply(
        "--source.state-every",
        "3",
        "--source.state-every",
        "4",
        config={"api_key": {"env": "K"}, "state_every": 1},
    )

    assert config == {"api_key": {"env": "K"}, "state_every": 4}


def test_an_unknown_nested_field_names_its_parent_fields() -> None:
    with pytest.raises(
        ConfigError, match=r"Valid fields: --source\.credentials\.password, --source\.credentials\.user"
    ):
        apply("--source.credentials.pasword", "x")


def test_a_connector_without_fields_says_so() -> None:
    _, flags = extract_connector_flags(["--destination.anything", "1"])
    closed = {"type": "object", "properties": {}, "additionalProperties": False}

    with pytest.raises(ConfigError, match=r"Valid fields: \(none\)"):
        apply_connector_flags({}, flags, schema=closed, connector="null")


def test_an_open_ended_config_accepts_any_field() -> None:
    _, flags = extract_connector_flags(["--destination.anything", "1"])

    assert apply_connector_flags({}, flags, schema={"type": "object"}, connector="free") == {"anything": 1}
