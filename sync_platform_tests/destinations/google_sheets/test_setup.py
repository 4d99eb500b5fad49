"""Setup creates (once) and shares the spreadsheet and its tabs; teardown removes only our tabs."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.destinations.google_sheets import (
    GoogleSheetsDestination,
    SpreadsheetMissingError,
    TabConflictError,
    load_config,
)
from sync_platform.destinations.google_sheets.connection import connect
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.destinations.google_sheets.streams import (
    CUSTOMER_COLUMNS,
    CUSTOMER_SCHEMA,
    catalog,
    log_lines,
    reported_config,
    setup,
    stream_errors,
    teardown,
    tombstone,
    upsert,
    write,
)
from sync_platform_tests.plugins.sheets_server import ServiceAccount

T0 = 1_700_000_000


def titles(sheets: SheetsEmulator, spreadsheet_id: str) -> list[str]:
    return [sheet.title for sheet in sheets.sheets(spreadsheet_id)]


def test_setup_creates_the_spreadsheet_once_and_reports_it_so_later_runs_reuse_it(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    first = setup(destination, sheets_config, catalog("customer"))

    updated = reported_config(first)
    spreadsheet_id = updated["spreadsheet_id"]
    assert sheets.spreadsheet_ids() == [spreadsheet_id]
    # A full replacement config: the orchestrator stores it as is.
    assert updated["service_account_json"] == sheets_config["service_account_json"]
    assert titles(sheets, spreadsheet_id) == ["customer", "_sync_platform_index.customer"]

    again = setup(destination, updated, catalog("customer", "invoice"))
    write(destination, updated, catalog("customer", "invoice"), [upsert("invoice", "in_1", T0)])

    assert [m for m in again if m.type == "control"] == []
    assert sheets.spreadsheet_ids() == [spreadsheet_id]
    assert titles(sheets, spreadsheet_id) == [
        "customer",
        "_sync_platform_index.customer",
        "invoice",
        "_sync_platform_index.invoice",
    ]


def test_writing_without_a_spreadsheet_id_fails_and_never_creates_one(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    with pytest.raises(SpreadsheetMissingError, match="Run setup first"):
        write(destination, sheets_config, catalog("customer"), [upsert("customer", "cus_1", T0)])
    assert sheets.spreadsheet_ids() == []


def test_setup_shares_the_spreadsheet_with_the_configured_people(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    out = setup(destination, {**sheets_config, "share_with": ["ana@example.com"]}, catalog("customer"))
    assert sheets.permissions(reported_config(out)["spreadsheet_id"])["ana@example.com"] == "writer"


def test_new_schema_columns_are_appended_and_existing_rows_stay_aligned(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    write(destination, config, catalog("customer"), [upsert("customer", "cus_1", T0)])
    properties = dict(CUSTOMER_SCHEMA["properties"])
    grown = {"id": properties.pop("id"), "phone": {"type": "string"}, **properties}  # phone placed early
    wider = catalog("customer", schema={**CUSTOMER_SCHEMA, "properties": grown})

    setup(destination, config, wider)
    write(destination, config, wider, [upsert("customer", "cus_2", T0, phone="+1 555 0100")])

    values = sheets.values(config["spreadsheet_id"], "customer")
    assert values[0] == [*CUSTOMER_COLUMNS, "phone"]
    assert values[1][: len(CUSTOMER_COLUMNS)][3] == "Name of cus_1"
    assert values[2][-1] == "+1 555 0100"


def test_teardown_removes_only_the_tabs_it_created(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    spreadsheet_id = config["spreadsheet_id"]
    sheets.add_sheet(spreadsheet_id, "Notes")
    messages = [upsert("customer", "cus_1", T0), tombstone("customer", "cus_2", T0)]  # remembered in a tab
    write(destination, config, catalog("customer", "invoice"), messages)
    assert "_sync_platform_tombstones" in titles(sheets, spreadsheet_id)

    out = teardown(destination, config)

    assert titles(sheets, spreadsheet_id) == ["Notes"]
    assert sheets.spreadsheet_ids() == [spreadsheet_id]
    assert "removed the tabs of 2 streams" in log_lines(out)[-1]


def test_teardown_leaves_a_blank_tab_when_every_tab_was_ours(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    teardown(destination, config)
    assert titles(sheets, config["spreadsheet_id"]) == ["Sheet1"]  # a spreadsheet needs one visible tab


def test_a_tab_named_like_a_stream_that_is_not_ours_is_never_touched(
    sheets: SheetsEmulator,
    sheets_config: dict[str, Any],
    destination: GoogleSheetsDestination,
    service_account: ServiceAccount,
) -> None:
    spreadsheet_id = sheets.create_spreadsheet(
        "team sheet", owner="owner@example.com", shared_with={service_account.email: "writer"}
    )
    connect(load_config(sheets_config)).open_by_key(spreadsheet_id).add_worksheet("customer", 10, 2).update(
        [["our own", "notes"]], "A1"
    )
    config = {**sheets_config, "spreadsheet_id": spreadsheet_id}

    out = write(
        destination,
        config,
        catalog("customer", "invoice"),
        [upsert("customer", "cus_1", T0), upsert("invoice", "in_1", T0)],
    )

    (error,) = stream_errors(out)
    assert error.stream == "customer"
    assert "did not create" in error.error
    assert sheets.values(spreadsheet_id, "customer") == [["our own", "notes"]]
    assert [row[0] for row in sheets.values(spreadsheet_id, "invoice")[1:]] == ["in_1"]
    with pytest.raises(TabConflictError, match="Rename or delete that tab"):
        setup(destination, config, catalog("customer"))
