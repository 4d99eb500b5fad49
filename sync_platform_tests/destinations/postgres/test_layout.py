"""Table layout from a stream's catalog entry: names, key and column types, with no database."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.destinations.postgres import StreamLayoutError, describe_columns, stream_layout
from sync_platform.destinations.postgres.layout import property_kind
from sync_platform.destinations.postgres.naming import safe_identifier
from sync_platform.protocol import Stream
from sync_platform_tests.destinations.postgres.conftest import stripe_stream


@pytest.mark.parametrize(
    ("schema", "pg_type"),
    [
        ({"type": "string"}, "text"),
        ({"type": ["string", "null"]}, "text"),
        ({"type": "string", "format": "date-time"}, "timestamptz"),
        ({"type": "integer"}, "bigint"),
        ({"type": ["integer", "null"], "format": "unix-time"}, "timestamptz"),
        ({"type": "number"}, "numeric"),
        ({"type": ["integer", "number"]}, "numeric"),
        ({"type": "boolean"}, "boolean"),
        ({"type": ["object", "null"]}, "jsonb"),
        ({"type": "object", "x-stripe-list": True}, "jsonb"),
        ({"type": ["array", "null"], "items": {"type": "string"}}, "jsonb"),
        ({"type": ["string", "null"], "x-expandable-reference": True}, "text"),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "bigint"),
        ({"type": ["string", "integer"]}, "jsonb"),
        ({}, "jsonb"),
    ],
)
def test_json_schema_types_map_to_the_documented_column_types(schema: dict[str, Any], pg_type: str) -> None:
    assert property_kind(schema).pg_type == pg_type


def test_stripe_stream_is_keyed_on_id_and_account_and_has_the_system_columns() -> None:
    columns = describe_columns(stripe_stream())
    names = [c.name for c in columns]
    assert names[:4] == ["id", "_account_id", "_updated_at", "_synced_at"]
    assert names[-1] == "_raw_data"
    assert [c.name for c in columns if c.primary_key] == ["id", "_account_id"]
    assert {c.name: c.type for c in columns}["amount"] == "bigint"
    assert names.count("_updated_at") == 1  # the `_updated_at` property is the system column


def test_account_id_enum_becomes_no_constraint_only_a_text_key_column() -> None:
    """Stripe adds accounts over time: an enum pinned into a CHECK would reject the next one."""
    columns = {c.name: c for c in describe_columns(stripe_stream())}
    assert columns["_account_id"].type == "text"


def test_unkeyed_account_id_is_still_a_column() -> None:
    stream = Stream(
        name="thing", primary_key=[["id"]], json_schema={"properties": {"id": {"type": "string"}}}
    )
    assert "_account_id" in [c.name for c in describe_columns(stream)]


def test_stream_without_primary_key_is_refused_with_the_fix() -> None:
    with pytest.raises(StreamLayoutError, match=r"no primary key.*primary_key"):
        stream_layout(Stream(name="charge", primary_key=[]))


def test_stream_named_like_a_bookkeeping_table_is_refused() -> None:
    with pytest.raises(StreamLayoutError, match="keeps for its own bookkeeping"):
        stream_layout(stripe_stream("_sync_tombstones"))


def test_fields_named_like_system_columns_stay_in_the_raw_json_only() -> None:
    layout = stream_layout(
        stripe_stream(properties={"id": {"type": "string"}, "_raw_data": {"type": "string"}})
    )
    assert "_raw_data" in layout.skipped_fields
    assert layout.columns == ()


def test_long_names_get_distinct_stable_identifiers_within_63_bytes() -> None:
    first, second = "a" * 70 + "_first", "a" * 70 + "_second"
    assert safe_identifier(first) != safe_identifier(second)
    assert safe_identifier(first) == safe_identifier(first)
    assert all(len(safe_identifier(n).encode()) <= 63 for n in (first, second, "é" * 40))
    assert safe_identifier('ok name "quoted"') == 'ok name "quoted"'
    assert "\x00" not in safe_identifier("nul\x00name")
