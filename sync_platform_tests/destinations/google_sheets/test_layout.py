"""Columns and cells: what a stream's tab looks like, value by value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sync_platform.destinations.google_sheets.layout import (
    MAX_CELL_CHARACTERS,
    TRUNCATION_MARKER,
    CellWriter,
    merge_columns,
    schema_columns,
)
from sync_platform_tests.destinations.google_sheets.streams import CUSTOMER_COLUMNS, stream


def test_columns_put_the_key_first_then_updated_at_then_the_schema_order() -> None:
    assert schema_columns(stream("customer")) == CUSTOMER_COLUMNS


def test_an_existing_header_keeps_its_order_and_new_columns_are_appended() -> None:
    existing = ["id", "_account_id", "_updated_at", "email", "name"]
    assert merge_columns(existing, ["id", "_account_id", "_updated_at", "name", "phone", "email"]) == [
        *existing,
        "phone",
    ]


def _value(cell: str) -> Any:
    """The ``userEnteredValue`` of a cell's JSON (``None`` for an empty cell)."""
    return json.loads(cell).get("userEnteredValue")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", {"stringValue": "plain"}),
        ('=HYPERLINK("http://evil","click")', {"stringValue": '=HYPERLINK("http://evil","click")'}),
        ("+1+2", {"stringValue": "+1+2"}),
        ("-2+3", {"stringValue": "-2+3"}),
        ("@SUM(A1)", {"stringValue": "@SUM(A1)"}),
        ("0042", {"stringValue": "0042"}),
        (42, {"numberValue": 42}),
        (-5, {"numberValue": -5}),
        (2.5, {"numberValue": 2.5}),
        (True, {"boolValue": True}),
        (2**60, {"stringValue": str(2**60)}),
        (float("nan"), {"stringValue": "nan"}),
        ({"plan": "pro", "note": "café"}, {"stringValue": '{"plan":"pro","note":"café"}'}),
        ([1, "a"], {"stringValue": '[1,"a"]'}),
        (None, None),
    ],
)
def test_values_keep_their_type_and_text_is_always_stored_as_text(value: Any, expected: Any) -> None:
    assert _value(CellWriter().cell(value)) == expected


def test_unix_times_become_iso_text_and_expanded_references_their_id() -> None:
    writer = CellWriter()
    assert _value(writer.unix_time(1_700_000_000)) == {"stringValue": "2023-11-14T22:13:20Z"}
    assert _value(writer.unix_time("not a time")) == {"stringValue": "not a time"}
    assert _value(writer.reference({"id": "card_1", "object": "card"})) == {"stringValue": "card_1"}
    assert _value(writer.reference("card_2")) == {"stringValue": "card_2"}


def test_text_over_fifty_thousand_characters_is_cut_with_a_marker_and_counted() -> None:
    writer = CellWriter()
    text = _value(writer.cell("x" * 60_000))["stringValue"]
    assert len(text) == MAX_CELL_CHARACTERS
    assert text.endswith(TRUNCATION_MARKER)
    assert writer.truncated == 1
    assert _value(writer.cell("y" * MAX_CELL_CHARACTERS))["stringValue"] == "y" * MAX_CELL_CHARACTERS
    assert writer.truncated == 1
