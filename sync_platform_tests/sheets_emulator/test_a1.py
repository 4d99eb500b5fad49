"""A1 notation as the Sheets API reads it."""

from __future__ import annotations

import pytest

from sync_platform.sheets_emulator.a1 import A1Range, column_index, column_letters, parse_a1
from sync_platform.sheets_emulator.errors import SheetsApiError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sheet1", A1Range("Sheet1")),
        ("'my tab'!A2:C", A1Range("my tab", 1, 0, None, 3)),
        ("'it''s'!1:1", A1Range("it's", 0, 0, 1, None)),
        ("data!B7", A1Range("data", 6, 1, 7, 2)),
        ("A:A", A1Range(None, 0, 0, None, 1)),
        ("'_sync_platform_index.customer'!A2:B11", A1Range("_sync_platform_index.customer", 1, 0, 11, 2)),
    ],
)
def test_ranges_parse_to_zero_based_half_open_bounds(text: str, expected: A1Range) -> None:
    assert parse_a1(text, {"Sheet1"}) == expected


@pytest.mark.parametrize("text", ["'unclosed!A1", "A1:", "Sheet1!A3:B2", "A1:$"])
def test_malformed_ranges_are_a_400(text: str) -> None:
    with pytest.raises(SheetsApiError, match="Unable to parse range") as caught:
        parse_a1(text)
    assert caught.value.code == 400


@pytest.mark.parametrize(("letters", "index"), [("A", 0), ("Z", 25), ("AA", 26), ("AZ", 51), ("ZZ", 701)])
def test_column_letters_round_trip(letters: str, index: int) -> None:
    assert column_index(letters) == index
    assert column_letters(index) == letters
