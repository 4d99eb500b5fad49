"""``check`` opens the spreadsheet and, when it cannot, says what is wrong and what to do."""

from __future__ import annotations

from typing import Any

from sync_platform.destinations.google_sheets import GoogleSheetsDestination
from sync_platform.engine import blocking
from sync_platform.protocol import ConnectionStatus, ConnectionStatusPayload
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.plugins.sheets_server import ServiceAccount, make_service_account


def check(destination: GoogleSheetsDestination, config: dict[str, Any]) -> ConnectionStatusPayload:
    return blocking.run(destination.check(config))


def test_a_reachable_spreadsheet_checks_out(
    config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    status = check(destination, config)
    assert status.status is ConnectionStatus.SUCCEEDED
    assert "'Stripe Sync'" in (status.message or "")


def test_before_setup_only_the_credentials_are_checked(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    status = check(destination, sheets_config)
    assert status.status is ConnectionStatus.SUCCEEDED
    assert "setup will create the spreadsheet" in (status.message or "")
    assert sheets.spreadsheet_ids() == []


def test_a_missing_spreadsheet_is_reported_with_where_to_find_the_id(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    status = check(destination, {**sheets_config, "spreadsheet_id": "1NoSuchSheet"})
    assert status.status is ConnectionStatus.FAILED
    assert "'1NoSuchSheet' was not found" in (status.message or "")
    assert "between /d/ and /edit" in (status.message or "")


def test_a_spreadsheet_not_shared_with_the_service_account_says_whom_to_share_it_with(
    sheets: SheetsEmulator,
    sheets_config: dict[str, Any],
    destination: GoogleSheetsDestination,
    service_account: ServiceAccount,
) -> None:
    private = sheets.create_spreadsheet("finance", owner="cfo@example.com")
    status = check(destination, {**sheets_config, "spreadsheet_id": private})
    assert status.status is ConnectionStatus.FAILED
    assert f"Share the spreadsheet with {service_account.email} as Editor" in (status.message or "")


def test_a_key_google_no_longer_accepts_is_reported_as_rejected_credentials(
    sheets: SheetsEmulator,
    config: dict[str, Any],
    destination: GoogleSheetsDestination,
    service_account: ServiceAccount,
) -> None:
    rotated = make_service_account(email=service_account.email)
    status = check(destination, {**config, "service_account_json": rotated.key_json})
    assert status.status is ConnectionStatus.FAILED
    assert "Google rejected the credentials" in (status.message or "")
    assert "BEGIN PRIVATE KEY" not in (status.message or "")


def test_a_malformed_config_fails_the_check_instead_of_raising(destination: GoogleSheetsDestination) -> None:
    status = check(destination, {"service_account_json": "{not json"})
    assert status.status is ConnectionStatus.FAILED
    assert "service_account_json" in (status.message or "")
