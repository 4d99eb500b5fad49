"""Flush planning, checked against a plain model of "newest version wins" on the emulator's grid.

The planner's requests are applied to the emulator's spreadsheet model in-process (no HTTP), so
every structural rule Google enforces (frozen header, never deleting every non-frozen row, writes
inside the grid, atomicity) is checked on every generated case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_platform.destinations.google_sheets.buffer import FlushBuffer, StreamRows
from sync_platform.destinations.google_sheets.plan import batch_update_body, plan_flush
from sync_platform.destinations.google_sheets.tabs import read_layout
from sync_platform.sheets_emulator.batch_update import apply_batch_update
from sync_platform.sheets_emulator.model import DEFAULT_CELL_LIMIT, Edit, Sheet, Spreadsheet
from sync_platform.sheets_emulator.values_api import read_range
from sync_platform_tests.destinations.google_sheets.streams import (
    ACCOUNT,
    CUSTOMER_COLUMNS,
    stream,
    tombstone,
    upsert,
)

STREAM = stream("customer")
INDEX = "_sync_platform_index.customer"


@dataclass(frozen=True)
class Op:
    key: str
    version: int
    deleted: bool
    tag: str = ""  # which write this is, so a tie that wrongly overwrites is visible


class Workbook:
    """A spreadsheet in the emulator's model, written to only by real flush plans."""

    def __init__(self) -> None:
        self.spreadsheet = Spreadsheet("ss", "test", owner="me", sheets=[Sheet(0, "Sheet1", 0)])
        metadata = {"sheets": [{"properties": s.properties()} for s in self.spreadsheet.sheets]}
        self.layout = read_layout("ss", metadata, [STREAM])
        self.rows = StreamRows(STREAM, self.layout.tabs["customer"])

    def flush(self, ops: list[Op]) -> None:
        buffer = FlushBuffer()
        for op in ops:
            if op.deleted:
                message = tombstone("customer", op.key, op.version)
            else:
                message = upsert("customer", op.key, op.version, name=op.tag)
            buffer.add(self.rows, message.record)
        plan = plan_flush(self.layout, dict(buffer.take()) or {"customer": None})
        edit = Edit(self.spreadsheet, cell_limit=DEFAULT_CELL_LIMIT)
        if plan.requests:
            apply_batch_update(edit, json.loads(batch_update_body(plan.requests))["requests"])
        edit.commit()
        for tab in plan.tabs_after.values():
            self.layout.install(tab)

    def values(self, title: str) -> list[list[Any]]:
        return list(read_range(self.spreadsheet, f"'{title}'", "UNFORMATTED_VALUE").get("values", []))

    def sheet(self, title: str) -> Sheet:
        sheet = self.spreadsheet.by_title(title)
        assert sheet is not None
        return sheet


def model_flush(model: dict[str, Op], ops: list[Op]) -> None:
    """The meaning of a flush, without positions: newest version per key wins, tombstones remove."""
    pending: dict[str, Op] = {}
    for op in ops:
        current = pending.get(op.key)
        if current is None or (op.version >= current.version if op.deleted else op.version > current.version):
            pending[op.key] = op
    for key, op in pending.items():
        existing = model.get(key)
        if op.deleted:
            if existing is not None and existing.version <= op.version:
                del model[key]
        elif existing is None or op.version > existing.version:
            model[key] = op


def expected_rows(model: dict[str, Op]) -> list[tuple[str, int, str]]:
    return [(op.key, op.version, op.tag) for op in model.values()]


def sheet_rows(book: Workbook) -> list[tuple[str, int, str]]:
    values = book.values("customer")
    assert values[0] == CUSTOMER_COLUMNS
    return [(row[0], row[5], row[3]) for row in values[1:]]  # id, balance (= version), name (= tag)


def tagged(flushes: list[list[Op]]) -> list[list[Op]]:
    counter = iter(range(1_000_000))
    return [[Op(op.key, op.version, op.deleted, f"w{next(counter)}") for op in flush] for flush in flushes]


ops = st.builds(Op, key=st.sampled_from("abcde"), version=st.integers(1, 6), deleted=st.booleans())


@given(flushes=st.lists(st.lists(ops, max_size=10), min_size=1, max_size=5))
def test_any_sequence_of_flushes_leaves_the_newest_versions_compacted_in_arrival_order(
    flushes: list[list[Op]],
) -> None:
    book = Workbook()
    model: dict[str, Op] = {}
    for flush in tagged(flushes):
        book.flush(flush)
        model_flush(model, flush)

        assert sheet_rows(book) == expected_rows(model)
        rows = len(model)
        index = book.values(INDEX)
        assert [r[0] for r in index[1:]] == [f'["{key}","{ACCOUNT}"]' for key, _, _ in expected_rows(model)]
        assert [r[1] for r in index[1:]] == [version for _, version, _ in expected_rows(model)]
        assert book.sheet(INDEX).row_count == rows + 1  # the bookkeeping grid is exact: a row count is free
        assert book.sheet("customer").row_count == max(2, rows + 1)  # no blank rows below the data
        assert book.sheet("customer").frozen_row_count == 1
        assert book.layout.tabs["customer"].row_count == rows


@given(
    data=st.data(),
    versions=st.dictionaries(st.sampled_from("abcdef"), st.sets(st.integers(1, 50), min_size=1), min_size=1),
)
def test_upserts_converge_to_the_same_rows_whatever_their_order_and_batching(
    data: st.DataObject, versions: dict[str, set[int]]
) -> None:
    upserts = [
        Op(key, version, False, f"{key}{version}") for key, found in versions.items() for version in found
    ]
    results = []
    for _ in range(2):
        order = data.draw(st.permutations(upserts))
        cuts = sorted(data.draw(st.sets(st.integers(0, len(order)), max_size=3)))
        book = Workbook()
        for start, end in zip([0, *cuts], [*cuts, len(order)], strict=True):
            book.flush(list(order[start:end]))
        results.append(sorted(sheet_rows(book)))
    newest = sorted((key, max(found), f"{key}{max(found)}") for key, found in versions.items())
    assert results[0] == results[1] == newest


def test_deleting_every_row_keeps_the_header_and_one_blank_row() -> None:
    book = Workbook()
    book.flush([Op("a", 1, False, "first"), Op("b", 1, False, "second")])
    book.flush([Op("a", 2, True), Op("b", 2, True)])
    assert book.values("customer") == [CUSTOMER_COLUMNS]
    assert book.sheet("customer").row_count == 2
    assert book.values(INDEX) == [['["id","_account_id"]', "_updated_at"]]
    book.flush([Op("c", 1, False, "third")])
    assert sheet_rows(book) == [("c", 1, "third")]
