"""The source config: its published schema, its defaults, and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.engine import validate_config
from sync_platform.errors import ConfigError
from sync_platform.pipelines.secret_fields import secret_paths
from sync_platform.sources.stripe import API_VERSION, StripeSource, StripeSourceConfig
from sync_platform.sources.stripe.config import parse_config

KEY = "sk_test_" + "k3y" * 8
LIVE_KEY = "rk_live_" + "k3y" * 8


def test_the_spec_publishes_the_config_schema_with_its_secrets_marked() -> None:
    spec = StripeSource().spec()
    properties = spec.config["properties"]
    issue_fields = (
        "api_key account_id connected_accounts api_version base_url rate_limit max_concurrency "
        "backfill_limit poll_events webhook_secret webhook_url"
    )
    assert set(issue_fields.split()) <= set(properties)
    assert spec.config["required"] == ["api_key"]
    paths = secret_paths(spec.config, {"api_key": KEY, "webhook_secret": ["whsec_a", "whsec_b"]})
    assert paths == [("api_key",), ("webhook_secret", 0), ("webhook_secret", 1)]
    assert spec.source_state_stream is not None
    assert "remaining" in spec.source_state_stream["required"]


def test_defaults_are_the_sdk_api_version_and_80_percent_of_stripes_rate_limits() -> None:
    test_mode = parse_config({"api_key": KEY})
    assert test_mode.api_version == API_VERSION
    assert test_mode.requests_per_second == 20
    assert parse_config({"api_key": LIVE_KEY}).requests_per_second == 80
    assert parse_config({"api_key": LIVE_KEY, "rate_limit": 5}).requests_per_second == 5


def test_the_engine_fills_the_same_defaults_from_the_schema() -> None:
    validated = validate_config(
        StripeSource().spec().config, {"api_key": KEY}, connector="stripe", side="source"
    )
    assert StripeSourceConfig.model_validate(validated) == parse_config({"api_key": KEY})


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({}, "api_key"),
        ({"api_key": "pk_test_" + "publishable"}, "api_key"),
        ({"api_key": KEY, "rate_limit": 0}, "rate_limit"),
        ({"api_key": KEY, "max_concurrency": 0}, "max_concurrency"),
        ({"api_key": KEY, "account_id": "cus_123"}, "account_id"),
        ({"api_key": KEY, "connected_accounts": ["acct_1", "acct_1"]}, "connected_accounts"),
        ({"api_key": KEY, "base_url": "ftp://example.com"}, "base_url"),
        ({"api_key": KEY, "backfill_limit": -1}, "backfill_limit"),
        ({"api_key": KEY, "rate_limt": 5}, "rate_limt"),
    ],
)
def test_an_invalid_value_is_an_error_naming_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert caught.value.field == field
    assert repr(field) in str(caught.value)
    with pytest.raises(ConfigError) as by_engine:
        validate_config(StripeSource().spec().config, raw, connector="stripe", side="source")
    assert field in str(by_engine.value)  # the engine checks the published schema the same way


def test_the_key_never_appears_in_errors_or_reprs() -> None:
    bad_key = "sk_live_" + "s3cr3t" * 4 + "!"
    with pytest.raises(ConfigError) as caught:
        parse_config({"api_key": bad_key})
    assert "s3cr3t" not in str(caught.value)
    config = parse_config({"api_key": KEY, "webhook_secret": "whsec_hidden"})
    assert KEY not in repr(config)
    assert "whsec_hidden" not in repr(config)
