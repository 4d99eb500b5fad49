"""Where the CLI keeps pipelines: a given URL as is, else the embedded PostgreSQL with a local key."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from sync_platform.cli import CliContext
from sync_platform.cli import cli as sync_platform_cli
from sync_platform.cli.app_database import (
    SECRET_KEY_FILE,
    AppDatabase,
    local_secret_key,
    open_app_database,
    secrets_environ,
)
from sync_platform.pipelines import SECRET_KEY_ENV
from sync_platform_tests.cli.conftest import cli_registry
from sync_platform_tests.plugins.pipelines import STRIPE_KEY


def test_a_given_url_is_used_as_is_and_no_key_is_invented_for_it(tmp_path: Path) -> None:
    environ = {"SYNC_PLATFORM_HOME": str(tmp_path), "DATABASE_URL": "postgresql://shared/db"}

    with open_app_database("postgresql://app@db.internal/platform", environ) as database:
        assert database == AppDatabase("postgresql://app@db.internal/platform", embedded=False)
        assert SECRET_KEY_ENV not in secrets_environ(database, environ)
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_database_url_is_the_fallback_when_no_flag_is_given(tmp_path: Path) -> None:
    environ = {"SYNC_PLATFORM_HOME": str(tmp_path), "DATABASE_URL": "postgresql://shared/db"}

    with open_app_database(None, environ) as database:
        assert database == AppDatabase("postgresql://shared/db", embedded=False)


def test_the_local_key_is_created_private_once_and_then_reused(tmp_path: Path) -> None:
    first = local_secret_key(tmp_path)
    second = local_secret_key(tmp_path)

    assert first == second
    mode = stat.S_IMODE((tmp_path / SECRET_KEY_FILE).stat().st_mode)
    assert mode == 0o600


def test_a_key_in_the_environment_wins_over_the_local_one(tmp_path: Path) -> None:
    environ = {"SYNC_PLATFORM_HOME": str(tmp_path), SECRET_KEY_ENV: "my-own-key"}

    resolved = secrets_environ(AppDatabase("postgresql://local", embedded=True), environ)

    assert resolved[SECRET_KEY_ENV] == "my-own-key"
    assert not (tmp_path / SECRET_KEY_FILE).exists()


@pytest.mark.slow
def test_with_nothing_configured_pipelines_live_in_the_embedded_database(tmp_path: Path) -> None:
    """No URL, no key: a plaintext API key is stored encrypted with a generated local key, and the
    next command (a new process would do the same) decrypts it to sync."""
    environ = {"SYNC_PLATFORM_HOME": str(tmp_path / "home")}
    registry = cli_registry()

    def run(*args: str) -> str:
        context = CliContext(registry=registry, environ=environ)
        result = CliRunner().invoke(sync_platform_cli, list(args), obj=context, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.stdout

    run("pipelines", "create", "--id", "local", "--source", "secretive", "--source.api-key", STRIPE_KEY,
        "--destination", "null")  # fmt: skip
    synced = json.loads(run("sync", "local", "--json"))

    assert synced["status"] == "succeeded"
    assert (tmp_path / "home" / SECRET_KEY_FILE).exists()
    assert (tmp_path / "home" / "pgdata").is_dir()
    assert json.loads(run("pipelines", "get", "local", "--json"))["source"]["secretive"]["api_key"] == "***"
