"""The dev stack's ``.env`` block: written beside the user's lines, read only while dev runs, and
secrets that resolve from the files it names."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sync_platform.cli.dev_env import (
    BEGIN,
    DEV_PID_ENV,
    LOCAL_RECEIVER_URL_ENV,
    LOCAL_STRIPE_URL_ENV,
    block_lines,
    load_block,
    read_block,
    remove_block,
    url_without_password,
    write_block,
)
from sync_platform.cli.pipeline_input import _local_stack_defaults
from sync_platform.pipelines import SecretError, SecretVault, env_secret


def test_the_block_keeps_the_users_lines_and_leaves_nothing_behind(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("MINE=1\n")
    write_block(dotenv, block_lines({DEV_PID_ENV: str(os.getpid()), "A": "x"}, {}))
    write_block(dotenv, block_lines({DEV_PID_ENV: str(os.getpid()), "A": "y"}, {}))  # replaced, not added
    assert dotenv.read_text().count(BEGIN) == 1
    assert read_block(dotenv) == {DEV_PID_ENV: str(os.getpid()), "A": "y"}
    remove_block(dotenv)
    assert dotenv.read_text() == "MINE=1\n"
    dotenv.write_text("")
    write_block(dotenv, block_lines({"A": "x"}, {}))
    remove_block(dotenv)
    assert not dotenv.exists()  # the file was only ours


def test_a_block_left_by_a_killed_dev_stack_is_ignored(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    write_block(dotenv, block_lines({DEV_PID_ENV: "999999999", "SYNC_PLATFORM_DATABASE_URL": "x"}, {}))
    environ: dict[str, str] = {}
    load_block(dotenv, environ)
    assert environ == {}


def test_the_shell_wins_over_the_block(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    write_block(dotenv, block_lines({DEV_PID_ENV: str(os.getpid()), "A": "block", "B": "block"}, {}))
    environ = {"A": "shell"}
    load_block(dotenv, environ)
    assert environ["A"] == "shell"
    assert environ["B"] == "block"


def test_a_url_with_a_password_becomes_a_comment() -> None:
    assert url_without_password("postgresql://u:pw@h/db") is None
    assert url_without_password("postgresql://postgres:@/db?host=/s") == "postgresql://postgres:@/db?host=/s"
    lines = block_lines({"URL": None}, {"URL": "the URL holds a password; export it in your shell"})
    assert lines[1] == "# URL: the URL holds a password; export it in your shell"


def test_an_env_secret_resolves_from_the_file_its_FILE_variable_names(tmp_path: Path) -> None:
    key_file = tmp_path / "stripe.key"
    key_file.write_text("sk_test_from_file\n")
    assert env_secret({"STRIPE_API_KEY_FILE": str(key_file)}, "STRIPE_API_KEY") == "sk_test_from_file"
    assert env_secret(
        {"STRIPE_API_KEY": "sk_shell", "STRIPE_API_KEY_FILE": str(key_file)}, "STRIPE_API_KEY"
    ) == ("sk_shell")
    vault = SecretVault({"STRIPE_API_KEY_FILE": str(key_file)})
    assert vault.reveal({"env": "STRIPE_API_KEY"}) == "sk_test_from_file"
    with pytest.raises(SecretError, match=r"STRIPE_API_KEY_FILE names .* which cannot be read"):
        env_secret({"STRIPE_API_KEY_FILE": str(tmp_path / "missing")}, "STRIPE_API_KEY")


def test_new_stripe_pipelines_default_to_the_dev_stacks_emulator_and_receiver() -> None:
    environ = {
        LOCAL_STRIPE_URL_ENV: "http://127.0.0.1:12111",
        LOCAL_RECEIVER_URL_ENV: "http://127.0.0.1:8787",
    }
    document = {"id": "shop", "source": {"type": "stripe", "stripe": {"api_key": {"env": "STRIPE_API_KEY"}}}}
    _local_stack_defaults(document, environ)
    assert document["source"]["stripe"]["base_url"] == "http://127.0.0.1:12111"
    assert document["source"]["stripe"]["webhook_url"] == "http://127.0.0.1:8787/webhooks/shop"

    polling = {"source": {"type": "stripe", "stripe": {"poll_events": True}}}
    _local_stack_defaults(polling, environ)
    assert "webhook_url" not in polling["source"]["stripe"]  # the user chose polling
    elsewhere = {"source": {"type": "stripe", "stripe": {"base_url": "https://api.stripe.com"}}}
    _local_stack_defaults(elsewhere, environ)
    assert "webhook_url" not in elsewhere["source"]["stripe"]  # real Stripe cannot reach 127.0.0.1
    untouched = {"source": {"type": "stripe", "stripe": {}}}
    _local_stack_defaults(untouched, {})  # no dev stack running
    assert untouched["source"]["stripe"] == {}
