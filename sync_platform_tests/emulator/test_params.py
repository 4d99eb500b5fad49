"""Stripe's bracketed form encoding, as the SDK and curl send it."""

from __future__ import annotations

import pytest

from sync_platform.emulator.errors import ApiError
from sync_platform.emulator.params import decode_params


def test_decodes_hashes_indexed_arrays_and_appended_arrays() -> None:
    pairs = [
        ("created[gte]", "1"),
        ("created[lt]", "5"),
        ("types[0]", "customer.created"),
        ("types[1]", "invoice.paid"),
        ("expand[]", "data.customer"),
        ("metadata[order]", "42"),
        ("limit", "3"),
    ]
    assert decode_params(pairs) == {
        "created": {"gte": "1", "lt": "5"},
        "types": ["customer.created", "invoice.paid"],
        "expand": ["data.customer"],
        "metadata": {"order": "42"},
        "limit": "3",
    }


def test_decodes_arrays_of_hashes() -> None:
    assert decode_params([("items[0][price]", "p1"), ("items[1][price]", "p2")]) == {
        "items": [{"price": "p1"}, {"price": "p2"}]
    }


def test_a_value_and_a_hash_under_one_name_is_a_400() -> None:
    with pytest.raises(ApiError, match="Invalid"):
        decode_params([("created", "1"), ("created[gte]", "2")])
