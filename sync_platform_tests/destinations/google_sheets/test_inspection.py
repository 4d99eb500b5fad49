"""What a Dagster asset asks: how many rows a tab holds (for one account, too), its columns, its rows."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.destinations.google_sheets import (
    GoogleSheetsDestination,
    TabNotFoundError,
    describe_tabs,
    row_count,
    stream_columns,
    tab_rows,
)
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.destinations.google_sheets.streams import (
    CUSTOMER_COLUMNS,
    catalog,
    tombstone,
    upsert,
    write,
)

T0 = 1_700_000_000


@pytest.fixture
def synced(config: dict[str, Any], destination: GoogleSheetsDestination) -> dict[str, Any]:
    write(
        destination,
        config,
        catalog("customer", "invoice"),
        [
            *(upsert("customer", f"cus_{i}", T0, account="acct_1") for i in range(3)),
            *(upsert("customer", f"cus_{i}", T0, account="acct_2") for i in range(2)),
            upsert("invoice", "in_1", T0),
            tombstone("customer", "cus_0", T0 + 1, account="acct_1"),
        ],
    )
    return config


def test_row_counts_per_tab_and_per_stripe_account(synced: dict[str, Any], sheets: SheetsEmulator) -> None:
    reads = sheets.stats().read_requests
    assert row_count(synced, "customer") == 4
    assert sheets.stats().read_requests - reads == 1  # Dagster asks once per stream: one read each
    assert row_count(synced, "customer", account_id="acct_1") == 2
    assert row_count(synced, "customer", account_id="acct_2") == 2
    assert row_count(synced, "customer", account_id="acct_other") == 0
    assert row_count(synced, "invoice") == 1


def test_columns_and_a_summary_of_every_tab_in_two_reads(
    synced: dict[str, Any], sheets: SheetsEmulator
) -> None:
    assert stream_columns(synced, "customer") == CUSTOMER_COLUMNS
    reads = sheets.stats().read_requests
    summaries = describe_tabs(synced)
    assert sheets.stats().read_requests - reads == 2
    assert {name: summary.row_count for name, summary in summaries.items()} == {"customer": 4, "invoice": 1}
    assert summaries["invoice"].url.endswith(f"#gid={summaries['invoice'].sheet_id}")


def test_asking_about_a_stream_without_a_tab_names_the_ones_that_exist(synced: dict[str, Any]) -> None:
    with pytest.raises(TabNotFoundError, match="Did you mean 'customer'") as caught:
        row_count(synced, "customers")
    assert "customer, invoice" in str(caught.value)


def test_a_tab_reads_back_as_records_keyed_by_its_header(synced: dict[str, Any]) -> None:
    rows = tab_rows(synced, "customer")
    assert [(r["id"], r["_account_id"]) for r in rows] == [
        ("cus_1", "acct_1"),
        ("cus_2", "acct_1"),
        ("cus_0", "acct_2"),
        ("cus_1", "acct_2"),
    ]  # cus_0 of acct_1 was deleted; the rows after it moved up
    assert all(list(r) == CUSTOMER_COLUMNS for r in rows)
    assert rows[0]["name"] == "Name of cus_1"
    assert rows[0]["balance"] == T0
    with pytest.raises(TabNotFoundError, match="Did you mean 'invoice'"):
        tab_rows(synced, "invoices")
