"""The record encoder's shortcuts give what the plain reading gives (no database needed)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_platform.destinations.postgres.encoding import RecordEncoder, encode_json
from sync_platform.destinations.postgres.layout import stream_layout
from sync_platform_tests.destinations.postgres.conftest import obj
from sync_platform_tests.destinations.postgres.test_type_rules import CATALOG, TRICKY, json_values

LAYOUT = stream_layout(CATALOG.streams[0].stream)
FIELDS = [column.field for column in LAYOUT.columns]
MISSING = object()


def _encoder() -> RecordEncoder:
    return RecordEncoder(LAYOUT, list(LAYOUT.columns))


records = st.lists(
    st.fixed_dictionaries({field: json_values | st.sampled_from([*TRICKY, MISSING]) for field in FIELDS}).map(
        lambda values: obj("ch_1", 1, **{f: v for f, v in values.items() if v is not MISSING})
    ),
    min_size=1,
    max_size=6,
)


@given(records=records)
def test_a_missing_typed_field_is_inspected_as_a_null_one(records: list[dict[str, Any]]) -> None:
    """A stream's records may lack a field (the encoder then stops reading them all at once)."""
    encoder, reference = _encoder(), _encoder()
    for data in records:
        nulls = {field: data.get(field) for field in FIELDS} | data
        assert encoder.inspect(data) == reference.inspect(nulls)
        assert _encoder().inspect(data) == _encoder().inspect(nulls)


def test_inspecting_a_dict_with_defaults_adds_no_key() -> None:
    data: defaultdict[str, Any] = defaultdict(lambda: "default", obj("ch_1", 1))
    assert _encoder().inspect(data) == _encoder().inspect(dict(data))
    assert set(data) == {"id", "object", "_account_id", "_updated_at"}


@given(text=st.text(max_size=8), nul=st.booleans())
def test_only_a_nul_makes_a_record_repaired(text: str, nul: bool) -> None:
    data = {"id": "ch_1", "text": f'a\\b"{text}' + ("\x00" if nul else "")}
    _, stored, repaired = encode_json(data)
    assert repaired is ("\x00" in data["text"] or any(0xD800 <= ord(c) <= 0xDFFF for c in text))
    assert ("\x00" in stored["text"]) is False
