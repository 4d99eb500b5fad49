"""The local Sheets API behaves like Google where the destination's correctness depends on it.

Driven through the real gspread client, since that is what the destination uses.
"""

from __future__ import annotations

import json
from typing import Any

import google.auth.exceptions
import gspread
import httpx
import pytest
from gspread.utils import ValueInputOption

from sync_platform.destinations.google_sheets.config import load_config
from sync_platform.destinations.google_sheets.connection import connect
from sync_platform.sheets_emulator import DEMO_SERVICE_ACCOUNT, QuotaLimit, SheetsEmulator
from sync_platform_tests.plugins.sheets_server import ServiceAccount, SkippingClock, make_service_account


@pytest.fixture
def client(sheets: SheetsEmulator, sheets_config: dict[str, Any]) -> gspread.Client:
    return connect(load_config(sheets_config))


def _entered(spreadsheet: gspread.Spreadsheet, a1: str) -> list[list[Any]]:
    grid = spreadsheet.fetch_sheet_metadata({"includeGridData": "true", "ranges": [a1]})
    rows = grid["sheets"][0]["data"][0]["rowData"]
    return [[cell.get("userEnteredValue") for cell in row["values"]] for row in rows]


def test_user_entered_input_is_parsed_into_formulas_and_raw_input_is_kept_as_text(
    client: gspread.Client,
) -> None:
    spreadsheet = client.create("values")
    sheet = spreadsheet.sheet1
    sheet.update([["=1+1", "'=2", "-A1", "42"]], "A1", value_input_option=ValueInputOption.user_entered)
    sheet.update([["=1+1", "-A1", "42"]], "A2", value_input_option=ValueInputOption.raw)

    assert _entered(spreadsheet, "Sheet1!A1:D2") == [
        [{"formulaValue": "=1+1"}, {"stringValue": "=2"}, {"formulaValue": "=-A1"}, {"numberValue": 42}],
        [{"stringValue": "=1+1"}, {"stringValue": "-A1"}, {"stringValue": "42"}, None],
    ]
    # Formulas are never evaluated, and say so when read back.
    assert sheet.get("A1:A2") == [["#ERROR!"], ["=1+1"]]


def test_update_cells_stores_a_string_value_verbatim(client: gspread.Client) -> None:
    spreadsheet = client.create("cells")
    spreadsheet.batch_update(
        {
            "requests": [
                {
                    "updateCells": {
                        "start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 0},
                        "rows": [{"values": [{"userEnteredValue": {"stringValue": "=IMPORTXML(1)"}}]}],
                        "fields": "userEnteredValue",
                    }
                }
            ]
        }
    )
    assert _entered(spreadsheet, "Sheet1!A1") == [[{"stringValue": "=IMPORTXML(1)"}]]


def test_the_write_quota_answers_with_googles_429_until_the_window_passes(
    client: gspread.Client, sheets: SheetsEmulator, skipping_clock: SkippingClock
) -> None:
    sheet = client.create("quota").sheet1
    sheets.set_quota(write=QuotaLimit(2, 60.0))
    sheet.update([["a"]], "A1")
    sheet.update([["b"]], "A1")

    with pytest.raises(gspread.exceptions.APIError) as caught:
        sheet.update([["c"]], "A1")

    assert caught.value.code == 429
    assert caught.value.error["status"] == "RESOURCE_EXHAUSTED"
    assert caught.value.error["details"][0]["reason"] == "RATE_LIMIT_EXCEEDED"
    assert sheet.acell("A1").value == "b"  # reads have their own quota
    skipping_clock.advance(60)
    sheet.update([["c"]], "A1")
    assert sheet.acell("A1").value == "c"
    assert sheets.stats().rejected_with(429) == 1


def test_a_batch_update_is_all_or_nothing(client: gspread.Client, sheets: SheetsEmulator) -> None:
    spreadsheet = client.create("atomic")
    with pytest.raises(gspread.exceptions.APIError) as caught:
        spreadsheet.batch_update(
            {
                "requests": [
                    {"addSheet": {"properties": {"title": "new"}}},
                    {"deleteDimension": {"range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 0}}},
                ]
            }
        )
    assert "requests[1].deleteDimension" in caught.value.error["message"]
    assert [sheet.title for sheet in sheets.sheets(spreadsheet.id)] == ["Sheet1"]


def _frozen_header(spreadsheet: gspread.Spreadsheet) -> None:
    spreadsheet.batch_update(
        {
            "requests": [
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1, "rowCount": 3}},
                        "fields": "gridProperties.frozenRowCount,gridProperties.rowCount",
                    }
                }
            ]
        }
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {
                "deleteDimension": {
                    "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 3}
                }
            },
            "not possible to delete all non-frozen rows",
        ),
        (
            {
                "updateSheetProperties": {
                    "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 3}},
                    "fields": "gridProperties.frozenRowCount",
                }
            },
            "freeze all visible rows",
        ),
        ({"deleteSheet": {"sheetId": 0}}, "remove all the visible sheets"),
        (
            {
                "updateCells": {
                    "start": {"sheetId": 0, "rowIndex": 3, "columnIndex": 0},
                    "rows": [{"values": [{"userEnteredValue": {"stringValue": "x"}}]}],
                    "fields": "userEnteredValue",
                }
            },
            "after last row in grid",
        ),
        (
            {
                "updateCells": {
                    "start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 0},
                    "rows": [{"values": [{"userEnteredValue": {"stringValue": "x" * 50_001}}]}],
                    "fields": "userEnteredValue",
                }
            },
            "maximum of 50000 characters",
        ),
        ({"addSheet": {"properties": {"title": "sheet1"}}}, "already exists"),
    ],
)
def test_grid_rules_that_google_enforces_are_enforced(
    client: gspread.Client, change: dict[str, Any], message: str
) -> None:
    spreadsheet = client.create("rules")
    _frozen_header(spreadsheet)
    with pytest.raises(gspread.exceptions.APIError, match=message) as caught:
        spreadsheet.batch_update({"requests": [change]})
    assert caught.value.code == 400


def test_growing_a_workbook_past_ten_million_cells_is_refused(
    client: gspread.Client, sheets: SheetsEmulator
) -> None:
    spreadsheet = client.create("big")
    sheets.add_sheet(spreadsheet.id, "filler", rows=383_576, columns=26)
    before = sheets.total_cells(spreadsheet.id)
    assert before == 9_998_976

    def append_rows(count: int) -> None:
        spreadsheet.batch_update(
            {"requests": [{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": count}}]}
        )

    with pytest.raises(gspread.exceptions.APIError, match="above the limit of 10000000 cells"):
        append_rows(1000)
    assert sheets.total_cells(spreadsheet.id) == before
    append_rows(39)
    assert sheets.total_cells(spreadsheet.id) == 9_999_990


def test_unknown_spreadsheets_are_not_found_and_unshared_ones_are_forbidden(
    client: gspread.Client, sheets: SheetsEmulator, service_account: ServiceAccount
) -> None:
    with pytest.raises(gspread.exceptions.SpreadsheetNotFound):
        client.open_by_key("no-such-spreadsheet")
    private = sheets.create_spreadsheet("private", owner="someone@example.com")
    with pytest.raises(PermissionError):
        client.open_by_key(private)
    read_only = sheets.create_spreadsheet(
        "read only", owner="someone@example.com", shared_with={service_account.email: "reader"}
    )
    sheet = client.open_by_key(read_only).sheet1
    with pytest.raises(gspread.exceptions.APIError) as caught:
        sheet.update([["x"]], "A1")
    assert caught.value.code == 403


def test_a_key_that_does_not_match_the_registered_service_account_is_refused_a_token(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], service_account: ServiceAccount
) -> None:
    impostor = make_service_account(email=service_account.email)
    client = connect(load_config({**sheets_config, "service_account_json": impostor.key_json}))
    with pytest.raises(google.auth.exceptions.RefreshError, match="Invalid JWT Signature"):
        client.create("nope")


def test_requests_without_a_valid_token_are_unauthenticated(sheets: SheetsEmulator) -> None:
    response = httpx.get(
        f"{sheets.base_url}/v4/spreadsheets/anything", headers={"Authorization": "Bearer forged"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_a_failure_scripted_after_apply_changes_the_sheet_and_still_fails(
    client: gspread.Client, sheets: SheetsEmulator
) -> None:
    spreadsheet = client.create("lost response")
    sheets.fail_next(1, status=503, kinds=["values.update"], after_apply=True)
    with pytest.raises(gspread.exceptions.APIError) as caught:
        spreadsheet.sheet1.update([["x"]], "A1")
    assert caught.value.code == 503
    assert sheets.values(spreadsheet.id, "Sheet1") == [["x"]]


def test_requests_are_counted_by_kind(client: gspread.Client, sheets: SheetsEmulator) -> None:
    spreadsheet = client.create("counted")
    spreadsheet.values_batch_get(["Sheet1!A1:B2"])
    spreadsheet.sheet1.append_rows([[1, 2], [3, 4]])
    stats = sheets.stats()
    assert stats.accepted["drive.files.create"] == 1
    assert stats.accepted["values.batchGet"] == 1
    assert stats.accepted["values.append"] == 1
    assert stats.write_requests == 1
    assert stats.cells_written == 4
    assert sheets.values(spreadsheet.id, "Sheet1") == [[1, 2], [3, 4]]


def test_a_key_made_by_the_emulator_is_all_the_demo_needs(sheets: SheetsEmulator) -> None:
    key = sheets.new_service_account()
    client = connect(load_config({"service_account_json": json.dumps(key), "api_base_url": sheets.base_url}))
    spreadsheet = client.create("demo")
    assert sheets.permissions(spreadsheet.id) == {DEMO_SERVICE_ACCOUNT: "owner"}
