"""Config validation, secrets that never show, and a test knob that cannot reach the internet."""

from __future__ import annotations

import json
import logging
import socket
import threading
from typing import Any

import pytest

from sync_platform.destinations.google_sheets import (
    CredentialsError,
    GoogleSheetsDestination,
    load_config,
)
from sync_platform.destinations.google_sheets.connection import RedirectError, redirect
from sync_platform.errors import ConfigError
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.destinations.google_sheets.streams import (
    catalog,
    reported_config,
    setup,
    teardown,
    upsert,
    write,
)
from sync_platform_tests.plugins.sheets_server import ServiceAccount

T0 = 1_700_000_000


def _key_body(service_account: ServiceAccount) -> str:
    """A distinctive slice of the private key: it must appear nowhere."""
    return str(service_account.info["private_key"]).splitlines()[5]


def test_exactly_one_kind_of_credential_is_required(sheets_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config({"spreadsheet_id": "x"})
    token = json.dumps({"client_id": "c", "client_secret": "s", "refresh_token": "r"})
    with pytest.raises(ConfigError, match="exactly one of"):
        load_config({**sheets_config, "authorized_user_json": token})


def test_a_malformed_key_is_named_but_never_echoed() -> None:
    leaked = '{"type": "service_account", "private_key": "TOPSECRETKEYMATERIAL"}'
    with pytest.raises(CredentialsError) as caught:
        load_config({"service_account_json": leaked})
    assert "service_account_json" in str(caught.value)
    assert "lacks client_email, token_uri" in str(caught.value)
    assert "TOPSECRETKEYMATERIAL" not in str(caught.value)
    with pytest.raises(CredentialsError, match="not valid JSON") as caught:
        load_config({"service_account_json": "TOPSECRETKEYMATERIAL"})
    assert "TOPSECRETKEYMATERIAL" not in str(caught.value)


def test_the_emulator_knob_only_accepts_loopback_urls(sheets_config: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match="must be a loopback URL"):
        load_config({**sheets_config, "api_base_url": "https://sheets.googleapis.com"})


def test_the_parsed_config_never_shows_the_key(
    sheets_config: dict[str, Any], service_account: ServiceAccount
) -> None:
    parsed = load_config(sheets_config)
    shown = repr(parsed) + str(parsed) + parsed.model_dump_json()
    assert _key_body(service_account) not in shown
    assert parsed.identity == service_account.email


def test_google_urls_are_redirected_and_any_other_host_is_refused() -> None:
    base = "http://127.0.0.1:8765"
    assert (
        redirect("https://sheets.googleapis.com/v4/spreadsheets/x?a=1", base)
        == f"{base}/v4/spreadsheets/x?a=1"
    )
    assert redirect("https://oauth2.googleapis.com/token", base) == f"{base}/token"
    with pytest.raises(RedirectError, match=r"Refusing to send a request to 'evil\.example\.com'"):
        redirect("https://evil.example.com/collect", base)


# google-auth's opt-in switch for its background "regional access boundary" lookup (an extra request to
# iamcredentials). The test runs with it on and off: whatever google-auth looks up, it stays local.
LOOKUP_SWITCH = "GOOGLE_SDK_EXPERIMENTAL_PYTHON_REGIONAL_ACCESS_BOUNDARY_LOOKUP_ENABLED"


@pytest.mark.parametrize("background_lookup", ["on", "off"])
def test_no_request_leaves_the_machine(
    sheets: SheetsEmulator,
    sheets_config: dict[str, Any],
    destination: GoogleSheetsDestination,
    monkeypatch: pytest.MonkeyPatch,
    background_lookup: str,
) -> None:
    """Every DNS lookup and connection during a full lifecycle is to 127.0.0.1, including any that
    google-auth makes from a background thread (waited for by joining the threads the lifecycle
    started, so nothing is missed and nothing depends on a lookup happening)."""
    if background_lookup == "on":
        monkeypatch.setenv(LOOKUP_SWITCH, "true")
    else:
        monkeypatch.delenv(LOOKUP_SWITCH, raising=False)
    resolved: list[str] = []
    connected: list[Any] = []
    real_getaddrinfo, real_connect = socket.getaddrinfo, socket.socket.connect

    def recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        resolved.append(host)
        return real_getaddrinfo(host, *args, **kwargs)

    def recording_connect(self: socket.socket, address: Any) -> Any:
        connected.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", recording_getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", recording_connect)
    threads_before = set(threading.enumerate())

    config = reported_config(setup(destination, sheets_config, catalog("customer")))
    write(destination, config, catalog("customer"), [upsert("customer", "cus_1", T0)])
    teardown(destination, config)
    for thread in set(threading.enumerate()) - threads_before:
        thread.join(timeout=30)
        assert not thread.is_alive(), f"{thread.name} outlived the lifecycle; its requests went unchecked"

    assert connected, "the lifecycle reached the Sheets emulator"
    assert {host for host in resolved if host is not None} <= {"127.0.0.1"}
    assert {address[0] for address in connected if isinstance(address, tuple)} == {"127.0.0.1"}


def test_secrets_stay_out_of_logs_and_errors(
    sheets: SheetsEmulator,
    sheets_config: dict[str, Any],
    destination: GoogleSheetsDestination,
    service_account: ServiceAccount,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = {**sheets_config, "spreadsheet_id": "1Missing"}
    with pytest.raises(Exception) as caught:
        write(destination, config, catalog("customer"), [upsert("customer", "cus_1", T0)])
    assert "1Missing" in str(caught.value)
    for text in (caplog.text, str(caught.value), repr(caught.value)):
        assert _key_body(service_account) not in text
        assert "BEGIN PRIVATE KEY" not in text


def test_an_authorized_user_token_works_like_a_service_account(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    token = json.dumps({"client_id": "desktop-app", "client_secret": "s3cret", "refresh_token": "1//refresh"})
    config = {"authorized_user_json": token, "api_base_url": sheets_config["api_base_url"]}
    spreadsheet_id = reported_config(setup(destination, config, catalog("customer")))["spreadsheet_id"]
    assert sheets.permissions(spreadsheet_id) == {"desktop-app@authorized-user": "owner"}
