"""Connector configs are validated against the connector's JSON-schema spec, defaults applied."""

from __future__ import annotations

import asyncio

import pytest

from sync_platform.engine import Engine, validate_config
from sync_platform.errors import ConfigError
from sync_platform.protocol import PipelineConfig

SCHEMA = {
    "type": "object",
    "properties": {
        "schema": {"type": "string", "default": "stripe"},
        "batch_size": {"type": "integer", "minimum": 1, "default": 100},
        "api_key": {"type": "string", "writeOnly": True, "pattern": "^sk_"},
        "nested": {
            "type": "object",
            "properties": {"mode": {"enum": ["a", "b"], "default": "a"}},
            "default": {},
        },
    },
    "required": ["api_key"],
    "additionalProperties": False,
}


def test_defaults_are_applied_including_nested_ones() -> None:
    config = validate_config(SCHEMA, {"api_key": "sk_test_1"}, connector="x", side="source")
    assert config == {"api_key": "sk_test_1", "schema": "stripe", "batch_size": 100, "nested": {"mode": "a"}}


def test_the_input_is_not_modified() -> None:
    raw = {"api_key": "sk_test_1"}
    validate_config(SCHEMA, raw, connector="x", side="source")
    assert raw == {"api_key": "sk_test_1"}


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"api_key": "sk_1", "batch_size": 0}, "batch_size", "must be >= 1"),
        ({"api_key": "sk_1", "batch_size": "ten"}, "batch_size", "must be of type integer"),
        ({"api_key": "sk_1", "nested": {"mode": "c"}}, "nested.mode", "must be one of 'a', 'b'"),
        ({}, None, "'api_key' is a required property"),
        ({"api_key": "sk_1", "typo": 1}, None, "'typo' was unexpected"),
    ],
)
def test_an_invalid_config_names_the_field(raw: dict[str, object], field: str | None, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as caught:
        validate_config(SCHEMA, raw, connector="x", side="destination")
    assert caught.value.field == field
    assert "destination config for 'x'" in str(caught.value)


def test_errors_never_quote_the_offending_value() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_config(SCHEMA, {"api_key": "pk_live_" + "SECRETVALUE"}, connector="x", side="source")
    assert "SECRETVALUE" not in str(caught.value)
    assert "api_key" in str(caught.value)


def test_the_engine_rejects_an_invalid_source_config_before_reading() -> None:
    pipeline = PipelineConfig.model_validate(
        {"source": {"type": "fixture", "fixture": {"state_every": 0}}, "destination": {"type": "null"}}
    )
    with pytest.raises(ConfigError, match="state_every"):
        asyncio.run(Engine().sync_batch(pipeline))
