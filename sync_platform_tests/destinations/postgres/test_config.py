"""Config parsing and ``check``: clear errors that never show a password."""

from __future__ import annotations

import asyncio
import socket
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from sync_platform.destinations.postgres import PostgresDestination, PostgresDestinationConfig, parse_config
from sync_platform.engine import validate_config
from sync_platform.errors import ConfigError
from sync_platform.protocol import ConnectionStatus
from sync_platform_tests.plugins.postgres import PgTestDatabase

SECRET = "hunter2-Very-Secret"


def check(config: dict[str, Any]) -> Any:
    return asyncio.run(PostgresDestination().check(config))


def test_spec_defaults_fill_schema_and_batch_size_when_the_engine_validates_a_config() -> None:
    schema = PostgresDestination().spec().config
    validated = validate_config(
        schema, {"url": "postgresql://u@db/app"}, connector="postgres", side="destination"
    )
    parsed = parse_config(validated)
    assert (parsed.schema_name, parsed.batch_size) == ("stripe", 1000)


def test_spec_marks_url_and_password_as_secrets() -> None:
    properties = PostgresDestination().spec().config["properties"]
    for name in ("url", "password"):
        assert {"format": "password", "type": "string", "writeOnly": True} in properties[name]["anyOf"]


def test_config_without_url_or_host_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match=r"set `url`.*or `host`"):
        parse_config({"schema": "stripe"})


def test_config_never_shows_its_password_or_url() -> None:
    config = parse_config({"url": f"postgresql://app:{SECRET}@db/app", "password": SECRET})
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in config.model_dump_json()
    assert SECRET in config.conninfo()  # only the connection string handed to libpq carries it


def test_invalid_config_error_names_the_field_but_not_the_value() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"host": "db", "password": [SECRET]})
    assert caught.value.field == "password"
    assert SECRET not in str(caught.value)


def test_unparsable_url_is_a_config_error_without_the_url() -> None:
    with pytest.raises(ConfigError, match="not a valid libpq URI") as caught:
        parse_config({"url": f"host=db password='{SECRET}"})  # unterminated quote
    assert SECRET not in str(caught.value)


def test_discrete_fields_override_the_url() -> None:
    config = PostgresDestinationConfig.model_validate(
        {"url": "postgresql://app@db:5432/app", "port": 6543, "password": SECRET, "sslmode": "require"}
    )
    assert config.describe_target() == "app@db:6543/app"
    assert f"password={SECRET}" in config.conninfo()
    assert "sslmode=require" in config.conninfo()


def test_check_succeeds_against_a_live_database(pg: PgTestDatabase) -> None:
    assert check({"url": pg.url}).status == ConnectionStatus.SUCCEEDED


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_check_on_an_unreachable_host_fails_clearly_without_the_password() -> None:
    port = _closed_port()
    status = check({"host": "127.0.0.1", "port": port, "user": "app", "password": SECRET, "database": "app"})
    assert status.status == ConnectionStatus.FAILED
    assert f"app@127.0.0.1:{port}/app" in (status.message or "")
    assert "Check that the server is reachable" in (status.message or "")
    assert SECRET not in (status.message or "")


def test_check_with_a_wrong_password_fails_clearly_without_the_password(
    pg: PgTestDatabase, password_role: str
) -> None:
    assert check({"url": pg.url, "user": password_role, "password": "right-password"}).status == "succeeded"
    status = check({"url": pg.url, "user": password_role, "password": SECRET})
    assert status.status == ConnectionStatus.FAILED
    assert "password authentication failed" in (status.message or "")
    assert SECRET not in (status.message or "")
    parts = urlsplit(pg.url)
    in_url = urlunsplit(parts._replace(netloc=f"{password_role}:{SECRET}@{parts.netloc.rpartition('@')[2]}"))
    status = check({"url": in_url})
    assert status.status == ConnectionStatus.FAILED
    assert SECRET not in (status.message or "")
