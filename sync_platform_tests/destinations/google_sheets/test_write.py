"""Writing records: upserts by row key, stale versions, deletes that compact, and the commit fence."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sync_platform.destinations.google_sheets import GoogleSheetsDestination
from sync_platform.engine.destination_kit import winner
from sync_platform.protocol import (
    Message,
    RecordMessage,
    SourceStateMessage,
    global_state,
)
from sync_platform.sheets_emulator import QuotaLimit, SheetsEmulator
from sync_platform.sheets_emulator.batch_update import apply_batch_update
from sync_platform_tests.destinations.google_sheets.streams import (
    CUSTOMER_COLUMNS,
    _feed,
    catalog,
    checkpoint,
    flushed,
    logged,
    states,
    stream_errors,
    tombstone,
    upsert,
    write,
)
from sync_platform_tests.plugins.sheets_server import ServiceAccount, SkippingClock

T0 = 1_700_000_000
BOTH = catalog("customer", "invoice")


def ids(sheets: SheetsEmulator, config: dict[str, Any], tab: str = "customer") -> list[str]:
    return [row[0] for row in sheets.values(config["spreadsheet_id"], tab)[1:]]


def column(sheets: SheetsEmulator, config: dict[str, Any], name: str, tab: str = "customer") -> list[Any]:
    values = sheets.values(config["spreadsheet_id"], tab)
    position = values[0].index(name)
    return [row[position] if position < len(row) else "" for row in values[1:]]


def load(destination: GoogleSheetsDestination, config: dict[str, Any], count: int) -> None:
    write(
        destination,
        config,
        BOTH,
        [*(upsert("customer", f"cus_{i}", T0) for i in range(count)), checkpoint("customer", count)],
    )


def test_an_initial_load_fills_a_tab_per_stream_in_one_write_request(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    writes_before = sheets.stats().write_requests
    messages: list[Message] = [
        *(upsert("customer", f"cus_{i}", T0 + i) for i in range(3)),
        checkpoint("customer", 3),
        *(upsert("invoice", f"in_{i}", T0) for i in range(2)),
        checkpoint("invoice", 2),
    ]

    out = write(destination, config, BOTH, messages)

    spreadsheet_id = config["spreadsheet_id"]
    tabs = sheets.sheets(spreadsheet_id)
    assert [(tab.title, tab.hidden) for tab in tabs] == [
        ("customer", False),
        ("_sync_platform_index.customer", True),
        ("invoice", False),
        ("_sync_platform_index.invoice", True),
    ]
    assert tabs[0].frozen_row_count == 1
    assert sheets.values(spreadsheet_id, "customer") == [
        CUSTOMER_COLUMNS,
        *[
            [
                f"cus_{i}",
                "acct_1",
                f"2023-11-14T22:13:2{i}Z",
                f"Name of cus_{i}",
                f"cus_{i}@example.com",
                T0 + i,
                "2023-11-14T22:13:20Z",
                "",
                '{"plan":"pro"}',
                False,
            ]
            for i in range(3)
        ],
    ]
    assert ids(sheets, config, "invoice") == ["in_0", "in_1"]
    assert states(out) == [{"offset": 3}, {"offset": 2}]
    assert sum(isinstance(m, RecordMessage) for m in out) == 5
    assert flushed(out, "customer") == [
        {"stream": "customer", "inserted": 3, "updated": 0, "skipped_stale": 0, "deleted": 0}
    ]
    assert sheets.stats().write_requests - writes_before == 1


def test_a_newer_version_updates_its_row_in_place(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    load(destination, config, 3)

    out = write(
        destination,
        config,
        BOTH,
        [upsert("customer", "cus_1", T0 + 5, name="Renamed"), checkpoint("customer", 4)],
    )

    assert ids(sheets, config) == ["cus_0", "cus_1", "cus_2"]
    assert column(sheets, config, "name") == ["Name of cus_0", "Renamed", "Name of cus_2"]
    assert flushed(out, "customer")[0]["updated"] == 1


def test_versions_that_are_not_newer_are_skipped(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    load(destination, config, 3)

    out = write(
        destination,
        config,
        BOTH,
        [
            upsert("customer", "cus_1", T0 - 1, name="Older"),
            upsert("customer", "cus_2", T0),  # the very version the sheet has: a replay
            checkpoint("customer", 5),
        ],
    )

    assert column(sheets, config, "name") == ["Name of cus_0", "Name of cus_1", "Name of cus_2"]
    assert flushed(out, "customer")[0] == {
        "stream": "customer",
        "inserted": 0,
        "updated": 0,
        "skipped_stale": 2,
        "deleted": 0,
    }
    assert states(out) == [{"offset": 5}]


def test_versions_of_one_key_within_a_batch_leave_one_row_with_the_newest(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    versions = [
        upsert("customer", "cus_1", T0 + 2, name="newest"),
        upsert("customer", "cus_1", T0 + 1, name="late and old"),
        upsert("customer", "cus_1", T0 + 2, name="same time, other content"),
    ]
    write(destination, config, BOTH, versions)
    kept = winner([message.record for message in versions], "_updated_at")
    assert column(sheets, config, "name") == [kept.data["name"]]


def test_a_bookkeeping_tab_from_before_the_version_digest_gains_its_column(
    sheets: SheetsEmulator,
    config: dict[str, Any],
    destination: GoogleSheetsDestination,
    service_account: ServiceAccount,
) -> None:
    spreadsheet_id = config["spreadsheet_id"]
    load(destination, config, 2)
    index = sheets.sheet(spreadsheet_id, "_sync_platform_index.customer")
    two_columns = {
        "updateSheetProperties": {
            "properties": {"sheetId": index.sheet_id, "gridProperties": {"columnCount": 2}},
            "fields": "gridProperties.columnCount",
        }
    }
    sheets.edit(spreadsheet_id, service_account.email, lambda edit: apply_batch_update(edit, [two_columns]))

    write(
        destination,
        config,
        BOTH,
        [
            upsert("customer", "cus_0", T0, name="same second, other content"),
            upsert("customer", "cus_1", T0 + 1, name="newer"),
            upsert("customer", "cus_2", T0),
        ],
    )

    assert column(sheets, config, "name") == ["same second, other content", "newer", "Name of cus_2"]
    assert sheets.sheet(spreadsheet_id, "_sync_platform_index.customer").column_count == 3
    rows = sheets.values(spreadsheet_id, "_sync_platform_index.customer")[1:]
    assert all(len(row[2]) == 64 for row in rows)  # every row written since has its digest


def test_tombstones_delete_their_rows_and_the_tab_closes_up(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    load(destination, config, 5)

    out = write(
        destination,
        config,
        BOTH,
        [
            tombstone("customer", "cus_1", T0 + 1),
            tombstone("customer", "cus_3", T0 + 1),
            tombstone("customer", "cus_4", T0 - 1),  # older than the row: the row stays
            tombstone("customer", "cus_404", T0 + 1),  # never synced: remembered, nothing to delete
            upsert("customer", "cus_5", T0),
            checkpoint("customer", 9),
        ],
    )

    assert ids(sheets, config) == ["cus_0", "cus_2", "cus_4", "cus_5"]
    spreadsheet_id = config["spreadsheet_id"]
    assert sheets.sheet(spreadsheet_id, "customer").row_count == 5  # header + 4 rows, no blank rows
    index = sheets.values(spreadsheet_id, "_sync_platform_index.customer")[1:]
    assert [row[0] for row in index] == [f'["{i}","acct_1"]' for i in ("cus_0", "cus_2", "cus_4", "cus_5")]
    remembered = sheets.values(spreadsheet_id, "_sync_platform_tombstones")[1:]
    assert sorted(remembered) == [
        ["customer", f'["{i}","acct_1"]', T0 + 1] for i in ("cus_1", "cus_3", "cus_404")
    ]
    assert flushed(out, "customer")[0] == {
        "stream": "customer",
        "inserted": 1,
        "updated": 0,
        "skipped_stale": 1,
        "deleted": 3,
    }


def test_a_stream_new_to_the_spreadsheet_remembers_its_deletes_next_to_the_others(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    write(destination, config, BOTH, [tombstone("customer", "cus_1", T0)])
    three = catalog("customer", "invoice", "refund")

    write(destination, config, three, [tombstone("refund", "re_1", T0), upsert("refund", "re_1", T0 - 1)])
    write(destination, config, three, [upsert("refund", "re_1", T0 - 2), upsert("customer", "cus_1", T0)])

    assert ids(sheets, config, "refund") == []
    assert ids(sheets, config) == []
    remembered = sheets.values(config["spreadsheet_id"], "_sync_platform_tombstones")[1:]
    assert sorted(row[:2] for row in remembered) == [
        ["customer", '["cus_1","acct_1"]'],
        ["refund", '["re_1","acct_1"]'],
    ]


def test_a_storm_of_429s_still_converges(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    sheets.fail_next(6, status=429)
    out = write(
        destination,
        {**config, "max_cells_per_flush": 100},
        BOTH,
        [*(upsert("customer", f"cus_{i}", T0) for i in range(25)), checkpoint("customer", 25)],
    )
    assert ids(sheets, config) == [f"cus_{i}" for i in range(25)]
    assert states(out) == [{"offset": 25}]
    assert sheets.stats().rejected[("spreadsheets.batchUpdate", 429)] == 6


def test_quota_throttling_from_other_traffic_is_retried_until_the_write_converges(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    """The emulator allows 2 writes a minute but the destination believes it has 60 (another
    client uses the rest): every flush past the second is throttled, backs off, and gets through."""
    sheets.set_quota(write=QuotaLimit(2, 60.0))
    out = write(
        destination,
        {**config, "max_cells_per_flush": 100},  # >= 4 flushes: buffers grow to at most 1,000 cells
        BOTH,
        [*(upsert("customer", f"cus_{i}", T0) for i in range(300)), checkpoint("customer", 300)],
    )
    assert ids(sheets, config) == [f"cus_{i}" for i in range(300)]
    assert states(out) == [{"offset": 300}]
    assert sheets.stats().rejected_with(429) > 0


def test_pacing_keeps_the_destinations_own_writes_inside_the_quota(
    sheets: SheetsEmulator,
    config: dict[str, Any],
    destination: GoogleSheetsDestination,
    skipping_clock: SkippingClock,
) -> None:
    sheets.set_quota(write=QuotaLimit(3, 60.0))
    started = skipping_clock.monotonic()
    write(
        destination,
        {**config, "max_cells_per_flush": 100, "write_requests_per_window": 3},  # >= 4 flushes
        BOTH,
        [*(upsert("customer", f"cus_{i}", T0) for i in range(300)), checkpoint("customer", 300)],
    )
    assert ids(sheets, config) == [f"cus_{i}" for i in range(300)]
    assert sheets.stats().rejected_with(429) == 0
    assert skipping_clock.monotonic() - started >= 60  # it waited for the window instead of being throttled


def test_a_lost_response_is_settled_from_the_sheet_not_replayed(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    """Google applied the flush but the answer was lost: replaying a row deletion would delete the
    rows that moved into place, so the destination reads its bookkeeping back instead."""
    load(destination, config, 5)
    sheets.fail_next(1, status=503, after_apply=True)

    out = write(
        destination,
        config,
        BOTH,
        [
            tombstone("customer", "cus_1", T0 + 1),
            tombstone("customer", "cus_2", T0 + 1),
            checkpoint("customer", 7),
        ],
    )

    assert ids(sheets, config) == ["cus_0", "cus_3", "cus_4"]
    assert states(out) == [{"offset": 7}]


def test_a_failure_before_applying_is_retried_once_the_sheet_shows_it_was_not_applied(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    load(destination, config, 5)
    sheets.fail_next(2, status=503)

    write(destination, config, BOTH, [tombstone("customer", "cus_1", T0 + 1), checkpoint("customer", 6)])

    assert ids(sheets, config) == ["cus_0", "cus_2", "cus_3", "cus_4"]
    assert sheets.stats().rejected[("spreadsheets.batchUpdate", 503)] == 2


def test_values_that_look_like_formulas_are_stored_as_text(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    hostile = ['=HYPERLINK("http://evil.example","Refund")', "+1+1", "-2+3", "@SUM(A1)", "=1+1"]
    write(
        destination,
        config,
        BOTH,
        [upsert("customer", f"cus_{i}", T0, name=text, email=text) for i, text in enumerate(hostile)],
    )

    sheet = sheets.sheet(config["spreadsheet_id"], "customer")
    name, email = CUSTOMER_COLUMNS.index("name"), CUSTOMER_COLUMNS.index("email")
    for position, text in enumerate(hostile, start=1):
        assert sheet.get(position, name) == {"stringValue": text}
        assert sheet.get(position, email) == {"stringValue": text}
    stored = [cell for row in sheet.rows for cell in row if cell is not None]
    assert not [cell for cell in stored if "formulaValue" in cell]
    assert column(sheets, config, "name") == hostile


def test_text_over_the_cell_limit_is_truncated_with_a_marker(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    out = write(destination, config, BOTH, [upsert("customer", "cus_1", T0, name="x" * 70_000)])

    (name,) = column(sheets, config, "name")
    assert len(name) == 50_000
    assert name.endswith("…[truncated by sync_platform]")
    assert logged(out, "truncated")[0] == {"stream": "customer", "truncated": 1}


def test_a_write_that_would_cross_ten_million_cells_fails_before_writing_anything(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    spreadsheet_id = config["spreadsheet_id"]
    sheets.add_sheet(spreadsheet_id, "someone else's data", rows=384_611, columns=26)
    cells_before, writes_before = sheets.total_cells(spreadsheet_id), sheets.stats().write_requests
    assert cells_before == 9_999_932

    out = write(
        destination,
        config,
        BOTH,
        [*(upsert("customer", f"cus_{i}", T0) for i in range(10)), checkpoint("customer", 10)],
    )

    (error,) = stream_errors(out)
    assert error.stream == "customer"
    assert "10,000,052 cells" in error.error
    assert "limit of 10,000,000" in error.error
    assert "Nothing from this batch was written" in error.error
    assert states(out) == []
    assert sheets.stats().write_requests == writes_before
    assert sheets.total_cells(spreadsheet_id) == cells_before
    assert ids(sheets, config) == []


def test_a_bad_record_fails_only_its_stream_and_global_states_are_held_back(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    out = write(
        destination,
        config,
        BOTH,
        [
            upsert("invoice", "in_1", T0),
            checkpoint("invoice", 1),
            upsert("customer", "cus_1", T0),
            upsert("customer", "", T0),
            checkpoint("customer", 2),
            global_state({"events_cursor": "evt_9"}),
            upsert("invoice", "in_2", T0),
            checkpoint("invoice", 2),
        ],
    )

    errors = stream_errors(out)
    assert [(e.stream, "primary-key field 'id'" in e.error) for e in errors] == [("customer", True)]
    assert ids(sheets, config, "invoice") == ["in_1", "in_2"]
    assert ids(sheets, config) == []
    assert states(out) == [{"offset": 1}, {"offset": 2}]  # invoice only; the global state is withheld


def test_states_are_re_emitted_only_once_the_rows_before_them_are_in_the_sheet(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    messages: list[Message] = []
    for i in range(35):
        messages.append(upsert("customer", f"cus_{i}", T0))
        if i % 5 == 4:
            messages.append(checkpoint("customer", i + 1))
    spreadsheet_id = config["spreadsheet_id"]

    async def run() -> list[tuple[int, int]]:
        seen = []
        small = {**config, "max_cells_per_flush": 100}  # a flush every 10 rows
        async for message in destination.write(small, BOTH, _feed(messages)):
            if isinstance(message, SourceStateMessage):
                rows_in_sheet = sheets.sheet(spreadsheet_id, "_sync_platform_index.customer").row_count - 1
                seen.append((message.source_state.data["offset"], rows_in_sheet))
        return seen

    seen = asyncio.run(run())
    assert [offset for offset, _ in seen] == [5, 10, 15, 20, 25, 30, 35]
    assert all(rows >= offset for offset, rows in seen)
    assert seen[0] == (5, 10)  # the first flush went out at 10 rows and released the states it covered


def test_a_write_cut_off_mid_batch_never_reports_unwritten_rows_and_a_rerun_converges(
    sheets: SheetsEmulator, config: dict[str, Any], destination: GoogleSheetsDestination
) -> None:
    """The engine's hard time limit cancels a write while the source stalls: what was buffered is
    abandoned, so no state past the written rows may have been re-emitted."""
    messages: list[Message] = []
    for i in range(40):
        messages.append(upsert("customer", f"cus_{i:02d}", T0))
        if i % 10 == 9:
            messages.append(checkpoint("customer", i + 1))
    small = {**config, "max_cells_per_flush": 100}

    async def cut_off() -> list[Message]:
        delivered = asyncio.Event()

        async def stalling_source() -> AsyncIterator[Message]:
            for message in messages[:27]:  # 25 records and 2 checkpoints, then nothing more comes
                yield message
            delivered.set()
            await asyncio.Event().wait()

        outputs: list[Message] = []
        run = destination.write(small, BOTH, stalling_source())

        async def consume() -> None:
            async for message in run:
                outputs.append(message)

        task = asyncio.create_task(consume())
        await delivered.wait()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await run.aclose()
        return outputs

    outputs = asyncio.run(cut_off())

    released = [state["offset"] for state in states(outputs)]
    rows = ids(sheets, config)
    assert all(offset <= len(rows) for offset in released)
    assert "cus_24" not in rows  # the last, unflushed records were abandoned
    resume_from = max(released, default=0)

    write(destination, config, BOTH, messages[resume_from + resume_from // 10 :])

    assert ids(sheets, config) == [f"cus_{i:02d}" for i in range(40)]
