"""Every failure says its kind, from the HTTP status Google answered with, never from its wording.

The pipeline runner parks a pipeline on a kind retrying cannot fix (auth, permission, config,
invalid_request, not_found) and retries the others, so each kind is checked where the runner reads
it: ``check``'s failed status, a ``stream_status: error``, or the exception an operation raises.
"""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.destinations.google_sheets import GoogleSheetsDestination
from sync_platform.destinations.google_sheets.connection import RedirectError, redirect
from sync_platform.destinations.google_sheets.errors import (
    CredentialsError,
    SheetsApiCallError,
    sheets_failure_kind,
)
from sync_platform.engine import blocking
from sync_platform.errors import FailureKind, failure_kind_of
from sync_platform.protocol import ConnectionStatus, ConnectionStatusPayload
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.destinations.google_sheets.streams import (
    catalog,
    checkpoint,
    states,
    stream_errors,
    upsert,
    write,
)
from sync_platform_tests.plugins.sheets_server import ServiceAccount, make_service_account

T0 = 1_700_000_000
BOTH = catalog("customer", "invoice")
RETRIES = 2  # few retries: the skipping clock makes backoff free, but each retry is a request


def check(destination: GoogleSheetsDestination, config: dict[str, Any]) -> ConnectionStatusPayload:
    return blocking.run(destination.check(config))


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, FailureKind.INVALID_REQUEST),
        (401, FailureKind.AUTH),
        (403, FailureKind.PERMISSION),
        (404, FailureKind.NOT_FOUND),
        (429, FailureKind.RATE_LIMITED),
        (500, FailureKind.TRANSIENT),
        (503, FailureKind.TRANSIENT),
    ],
)
def test_check_reports_the_kind_of_a_refused_spreadsheet_read(
    sheets: SheetsEmulator,
    config: dict[str, Any],
    destination: GoogleSheetsDestination,
    status: int,
    kind: FailureKind,
) -> None:
    # Enough failures to outlast the retries (429, 5xx) and google-auth's token refreshes (401).
    sheets.fail_next(RETRIES + 3, status=status, kinds=("spreadsheets.get",))
    result = check(destination, {**config, "max_retries": RETRIES})
    assert (result.status, result.failure_kind) == (ConnectionStatus.FAILED, kind)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, FailureKind.INVALID_REQUEST),
        (401, FailureKind.AUTH),
        (403, FailureKind.PERMISSION),
        (404, FailureKind.NOT_FOUND),
        (429, FailureKind.RATE_LIMITED),
        (500, FailureKind.TRANSIENT),
    ],
)
def test_a_refused_flush_fails_the_streams_it_carried_with_the_kind(
    sheets: SheetsEmulator,
    config: dict[str, Any],
    destination: GoogleSheetsDestination,
    status: int,
    kind: FailureKind,
) -> None:
    sheets.fail_next(RETRIES + 3, status=status, kinds=("spreadsheets.batchUpdate",))
    out = write(
        destination,
        {**config, "max_retries": RETRIES},
        BOTH,
        [upsert("customer", "cus_1", T0), upsert("invoice", "in_1", T0), checkpoint("customer", 1)],
    )
    errors = stream_errors(out)
    assert [(e.stream, e.failure_kind) for e in errors] == [("customer", kind), ("invoice", kind)]
    assert states(out) == []


def test_a_spreadsheet_that_does_not_exist_is_not_found(
    sheets_config: dict[str, Any], destination: GoogleSheetsDestination, sheets: SheetsEmulator
) -> None:
    result = check(destination, {**sheets_config, "spreadsheet_id": "1NoSuchSheet"})
    assert result.failure_kind is FailureKind.NOT_FOUND


def test_a_spreadsheet_not_shared_with_the_account_is_permission(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    private = sheets.create_spreadsheet("finance", owner="cfo@example.com")
    result = check(destination, {**sheets_config, "spreadsheet_id": private})
    assert result.failure_kind is FailureKind.PERMISSION


def test_a_key_google_no_longer_accepts_is_auth(
    sheets: SheetsEmulator,
    config: dict[str, Any],
    destination: GoogleSheetsDestination,
    service_account: ServiceAccount,
) -> None:
    rotated = make_service_account(email=service_account.email).key_json
    assert check(destination, {**config, "service_account_json": rotated}).failure_kind is FailureKind.AUTH
    with pytest.raises(CredentialsError) as caught:  # out of write: the credentials stop every stream
        write(destination, {**config, "service_account_json": rotated}, BOTH, [upsert("customer", "c", T0)])
    assert failure_kind_of(caught.value) is FailureKind.AUTH


def test_a_malformed_key_is_config(destination: GoogleSheetsDestination) -> None:
    result = check(destination, {"service_account_json": "{not json"})
    assert result.failure_kind is FailureKind.CONFIG


def test_a_record_without_its_key_is_invalid_request(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    keyless = upsert("customer", "cus_1", T0)
    del keyless.record.data["id"]
    [error] = stream_errors(write(destination, config, BOTH, [keyless]))
    assert error.failure_kind is FailureKind.INVALID_REQUEST


def test_growing_past_ten_million_cells_is_config(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    """Retrying writes the same cells again; only a change to the pipeline gets it through."""
    sheets.add_sheet(config["spreadsheet_id"], "someone else's data", rows=384_611, columns=26)
    out = write(destination, config, BOTH, [upsert("customer", f"cus_{i}", T0) for i in range(10)])
    [error] = stream_errors(out)
    assert "limit of 10,000,000" in error.error
    assert error.failure_kind is FailureKind.CONFIG


def test_a_tab_that_is_not_ours_is_config(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    sheets.add_sheet(config["spreadsheet_id"], "refund")  # a tab of the user's, named like a stream
    out = write(destination, config, catalog("customer", "refund"), [upsert("refund", "re_1", T0)])
    [error] = stream_errors(out)
    assert (error.stream, error.failure_kind) == ("refund", FailureKind.CONFIG)


def test_a_host_other_than_googles_with_the_emulator_knob_is_config() -> None:
    with pytest.raises(RedirectError) as caught:
        redirect("https://evil.example.com/v4/spreadsheets", "http://127.0.0.1:1")
    assert failure_kind_of(caught.value) is FailureKind.CONFIG


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (None, FailureKind.TRANSIENT),
        (400, FailureKind.INVALID_REQUEST),
        (401, FailureKind.AUTH),
        (403, FailureKind.PERMISSION),
        (404, FailureKind.NOT_FOUND),
        (409, FailureKind.INVALID_REQUEST),
        (413, FailureKind.INVALID_REQUEST),
        (429, FailureKind.RATE_LIMITED),
        (502, FailureKind.TRANSIENT),
    ],
)
def test_sheets_failure_kind_follows_the_status(status: int | None, kind: FailureKind) -> None:
    assert sheets_failure_kind(status) is kind
    assert SheetsApiCallError("values.batchGet", status, "failed").failure_kind is kind
