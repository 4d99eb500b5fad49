"""Flush planning, checked against a plain model of the destination kit's rule on the emulator's grid.

The planner's requests are applied to the emulator's spreadsheet model in-process (no HTTP), so
every structural rule Google enforces (frozen header, never deleting every non-frozen row, writes
inside the grid, atomicity) is checked on every generated case. The model is the kit's own
``decide`` over the kit's version order, so ties and remembered deletes follow the shared rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_platform.destinations.google_sheets.buffer import FlushBuffer, StreamRows
from sync_platform.destinations.google_sheets.layout import TOMBSTONES_TAB
from sync_platform.destinations.google_sheets.plan import plan_flush
from sync_platform.destinations.google_sheets.sheet_requests import batch_update_body
from sync_platform.destinations.google_sheets.tabs import read_layout
from sync_platform.engine.destination_kit import Change, Version, decide, version_of
from sync_platform.protocol import RecordMessage
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

    def message(self) -> RecordMessage:
        if self.deleted:
            return tombstone("customer", self.key, self.version)
        return upsert("customer", self.key, self.version, name=self.tag)

    def rank(self) -> Version:
        version = version_of(self.message().record, "_updated_at")
        assert version is not None
        return version


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
            buffer.add(self.rows, op.message().record)
        plan = plan_flush(self.layout, dict(buffer.take()) or {"customer": None})
        edit = Edit(self.spreadsheet, cell_limit=DEFAULT_CELL_LIMIT)
        if plan.requests:
            apply_batch_update(edit, json.loads(batch_update_body(plan.requests))["requests"])
        edit.commit()
        for tab in plan.tabs_after.values():
            self.layout.install(tab)
        self.layout.install_tombstones(plan.tombstones_after)

    def values(self, title: str) -> list[list[Any]]:
        return list(read_range(self.spreadsheet, f"'{title}'", "UNFORMATTED_VALUE").get("values", []))

    def sheet(self, title: str) -> Sheet:
        sheet = self.spreadsheet.by_title(title)
        assert sheet is not None
        return sheet


@dataclass
class Model:
    """The sheet's meaning without positions: rows in arrival order, and remembered deletions."""

    rows: dict[str, tuple[Version, Op]]
    tombstones: dict[str, Version]


def model_flush(model: Model, ops: list[Op]) -> None:
    """One flush by the kit's rule: the greatest version per key in the flush, then ``decide``
    against the key's row or remembered tombstone."""
    pending: dict[str, tuple[Version, Op]] = {}
    for op in ops:
        if op.key not in pending or op.rank() > pending[op.key][0]:
            pending[op.key] = (op.rank(), op)
    for key, (version, op) in pending.items():
        current = model.rows[key][0] if key in model.rows else model.tombstones.get(key)
        change = decide(version, current)
        if change is Change.DELETE:
            model.rows.pop(key, None)
            model.tombstones[key] = version
        elif change is Change.INSERT:
            model.rows[key] = (version, op)  # appended: a new key, or one its tombstone no longer hides
            model.tombstones.pop(key, None)
        elif change is Change.UPDATE:
            model.rows[key] = (version, op)


def expected_rows(model: Model) -> list[tuple[str, int, str]]:
    return [(op.key, op.version, op.tag) for _, op in model.rows.values()]


def sheet_rows(book: Workbook) -> list[tuple[str, int, str]]:
    values = book.values("customer")
    assert values[0] == CUSTOMER_COLUMNS
    return [(row[0], row[5], row[3]) for row in values[1:]]  # id, balance (= version), name (= tag)


def remembered(book: Workbook) -> dict[str, int]:
    """``key -> deleted_at`` of the tombstone tab (which never ends in blank rows)."""
    if book.spreadsheet.by_title(TOMBSTONES_TAB) is None:
        return {}
    values = book.values(TOMBSTONES_TAB)
    assert values[0] == ["stream", "key", "deleted_at"]
    assert book.sheet(TOMBSTONES_TAB).row_count == len(values)
    return {row[1]: row[2] for row in values[1:] if row and row[0] == "customer"}


def tagged(flushes: list[list[Op]]) -> list[list[Op]]:
    counter = iter(range(1_000_000))
    return [[Op(op.key, op.version, op.deleted, f"w{next(counter)}") for op in flush] for flush in flushes]


ops = st.builds(Op, key=st.sampled_from("abcde"), version=st.integers(1, 6), deleted=st.booleans())


@given(flushes=st.lists(st.lists(ops, max_size=10), min_size=1, max_size=5))
def test_any_sequence_of_flushes_leaves_the_newest_versions_compacted_in_arrival_order(
    flushes: list[list[Op]],
) -> None:
    book = Workbook()
    model = Model({}, {})
    for flush in tagged(flushes):
        book.flush(flush)
        model_flush(model, flush)

        assert sheet_rows(book) == expected_rows(model)
        rows = len(model.rows)
        index = book.values(INDEX)
        assert [r[0] for r in index[1:]] == [f'["{key}","{ACCOUNT}"]' for key, _, _ in expected_rows(model)]
        assert [r[1] for r in index[1:]] == [version for _, version, _ in expected_rows(model)]
        assert [r[2] for r in index[1:]] == [version.digest for version, _ in model.rows.values()]
        assert remembered(book) == {
            f'["{key}","{ACCOUNT}"]': version.time // 10**6 for key, version in model.tombstones.items()
        }
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
    assert book.values(INDEX) == [['["id","_account_id"]', "_updated_at", "_version_digest"]]
    book.flush([Op("c", 1, False, "third")])
    assert sheet_rows(book) == [("c", 1, "third")]
