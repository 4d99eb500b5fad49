"""The wire envelope: every kind round-trips, unknown kinds and malformed payloads are rejected."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from sync_platform.protocol import (
    MESSAGE_TYPES,
    ControlMessage,
    GlobalStatePayload,
    Message,
    ProtocolError,
    RecordMessage,
    SourceStateMessage,
    StreamRangeComplete,
    StreamStatePayload,
    StreamStatusMessage,
    TimeRange,
    dump_message,
    parse_message,
    record,
    stream_range_complete,
    stream_state,
)

NOW = "2026-01-01T00:00:00Z"
PROGRESS: dict[str, Any] = {
    "started_at": NOW,
    "elapsed_ms": 10,
    "global_state_count": 1,
    "derived": {
        "status": "started",
        "records_per_second": 1.0,
        "states_per_second": 0.5,
        "total_record_count": 3,
        "total_state_count": 1,
    },
    "streams": {"customer": {"status": "started", "state_count": 1, "record_count": 3}},
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "record": {"stream": "customer", "data": {"id": "cus_1"}, "recordDeleted": True, "emitted_at": NOW},
    "source_state": {"state_type": "stream", "stream": "customer", "data": {"cursor": "cus_1"}},
    "catalog": {
        "streams": [{"name": "customer", "primary_key": [["id"]], "newer_than_field": "_updated_at"}]
    },
    "log": {"level": "warn", "message": "slow down", "data": {"attempt": 2}},
    "spec": {"config": {"type": "object"}, "soft_limit_fraction": 0.5},
    "connection_status": {"status": "failed", "message": "bad key"},
    "stream_status": {
        "stream": "customer",
        "status": "range_complete",
        "range_complete": {"gte": "2024-01-01T00:00:00Z", "lt": "2025-01-01T00:00:00Z"},
    },
    "control": {"control_type": "source_config", "source_config": {"account_id": "acct_1"}},
    "progress": PROGRESS,
    "eof": {"status": "succeeded", "has_more": False, "run_progress": PROGRESS, "request_progress": PROGRESS},
    "source_input": {"id": "evt_1", "type": "customer.updated"},
}


def test_every_kind_of_the_protocol_has_an_example() -> None:
    assert set(EXAMPLES) == set(MESSAGE_TYPES)
    assert len(MESSAGE_TYPES) == 11


@pytest.mark.parametrize("kind", MESSAGE_TYPES)
def test_each_kind_round_trips_through_its_envelope(kind: str) -> None:
    message = parse_message({"type": kind, kind: EXAMPLES[kind]})
    assert message.type == kind
    again = parse_message(json.loads(dump_message(message)))
    assert again == message


def test_source_state_without_state_type_is_a_stream_state() -> None:
    message = parse_message({"type": "source_state", "source_state": {"stream": "customer", "data": 1}})
    assert isinstance(message, SourceStateMessage)
    assert isinstance(message.source_state, StreamStatePayload)
    assert message.source_state.state_type == "stream"


def test_global_state_parses_as_global() -> None:
    message = parse_message(
        {"type": "source_state", "source_state": {"state_type": "global", "data": {"c": 1}}}
    )
    assert isinstance(message.source_state, GlobalStatePayload)


def test_control_rejects_an_unknown_control_type() -> None:
    with pytest.raises(ProtocolError, match="control_type"):
        parse_message(
            {"type": "control", "control": {"control_type": "catalog_config", "catalog_config": {}}}
        )


def test_an_unknown_message_type_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="does not match any of the expected tags"):
        parse_message({"type": "trace", "trace": {}})


def test_a_payload_under_the_wrong_key_is_rejected() -> None:
    with pytest.raises(ProtocolError, match=r"record\.record"):
        parse_message({"type": "record", "source_state": EXAMPLES["source_state"]})


def test_unknown_keys_are_ignored_like_the_reference() -> None:
    message = parse_message(
        {"type": "source_state", "source_state": {"stream": "s", "data": 1, "time_range": {}}, "extra": 1}
    )
    assert "time_range" not in dump_message(message)


def test_record_keeps_the_camel_case_deleted_flag_and_engine_fields_on_the_wire() -> None:
    message = parse_message(
        {"type": "record", "record": EXAMPLES["record"], "_emitted_by": "source/stripe", "_ts": NOW}
    )
    assert isinstance(message, RecordMessage)
    assert message.record.record_deleted is True
    wire = json.loads(dump_message(message))
    assert wire["record"]["recordDeleted"] is True
    assert wire["_emitted_by"] == "source/stripe"
    assert wire["_ts"] == NOW


def test_messages_are_immutable() -> None:
    message = parse_message({"type": "control", "control": EXAMPLES["control"]})
    assert isinstance(message, ControlMessage)
    with pytest.raises(ValueError, match="frozen"):
        message.type = "log"  # type: ignore[misc]  # the point of the test


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


RECORD_ARGUMENTS = {
    "stream": st.text(min_size=1, max_size=20),
    "data": st.dictionaries(st.text(max_size=10), json_values, max_size=6),
    "deleted": st.booleans(),
    "at": st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
}
"""One record's fields, for the properties every way of making a record must have."""


@given(**RECORD_ARGUMENTS)
def test_records_round_trip_through_ndjson(
    stream: str, data: dict[str, Any], deleted: bool, at: datetime
) -> None:
    original = parse_message(
        {
            "type": "record",
            "record": {"stream": stream, "data": data, "recordDeleted": deleted, "emitted_at": at},
        }
    )
    line = dump_message(original)
    assert line.endswith("\n")
    assert "\n" not in line[:-1]
    assert parse_message(json.loads(line)) == original


@given(data=json_values, stream=st.text(min_size=1, max_size=10))
def test_states_round_trip_through_ndjson(data: Any, stream: str) -> None:
    original = parse_message({"type": "source_state", "source_state": {"stream": stream, "data": data}})
    assert parse_message(json.loads(dump_message(original))) == original


@given(**RECORD_ARGUMENTS)
def test_a_record_made_without_validation_is_the_validated_record(
    stream: str, data: dict[str, Any], deleted: bool, at: datetime
) -> None:
    made = record(stream, data, deleted=deleted, emitted_at=at)
    validated = parse_message(
        {
            "type": "record",
            "record": {"stream": stream, "data": data, "emitted_at": at}
            | ({"recordDeleted": True} if deleted else {}),
        }
    )
    assert made == validated
    assert dump_message(made) == dump_message(validated)
    assert made.model_fields_set == validated.model_fields_set | {"emitted_by", "ts", "type"}
    assert made.model_copy(update={"emitted_by": "source/x"}).emitted_by == "source/x"
    with pytest.raises(ValueError, match="frozen"):
        made.record.stream = "other"  # type: ignore[misc]  # still immutable


class _StreamName(str):
    """A str subclass: validation makes it a plain str, so the factories still validate it."""


streams = RECORD_ARGUMENTS["stream"] | RECORD_ARGUMENTS["stream"].map(_StreamName)


def _same_as_validated(made: Message, validated: Message) -> None:
    """Equal, serialized alike, with the same fields set at every level, and still immutable."""
    assert made == validated
    assert dump_message(made) == dump_message(validated)
    assert made.model_dump() == validated.model_dump()
    assert made.model_dump(exclude_unset=True) == validated.model_dump(exclude_unset=True)
    with pytest.raises(ValueError, match="frozen"):
        made.type = "log"  # type: ignore[misc]  # the point of the test


@given(stream=streams, data=json_values)
def test_a_stream_state_made_without_validation_is_the_validated_state(stream: str, data: Any) -> None:
    made = stream_state(stream, data)
    validated = SourceStateMessage(source_state=StreamStatePayload(stream=stream, data=data))
    _same_as_validated(made, validated)
    assert made == parse_message({"type": "source_state", "source_state": {"stream": stream, "data": data}})
    assert type(made.source_state.stream) is str  # type: ignore[union-attr]  # a stream state


@given(stream=streams, gte=RECORD_ARGUMENTS["at"], lt=RECORD_ARGUMENTS["at"])
def test_a_range_complete_made_without_validation_is_the_validated_one(
    stream: str, gte: datetime, lt: datetime
) -> None:
    made = stream_range_complete(stream, gte, lt)
    time_range = TimeRange(gte=gte, lt=lt)
    validated = StreamStatusMessage(
        stream_status=StreamRangeComplete(stream=stream, range_complete=time_range)
    )
    _same_as_validated(made, validated)
    wire = {"stream": stream, "status": "range_complete", "range_complete": {"gte": gte, "lt": lt}}
    assert made == parse_message({"type": "stream_status", "stream_status": wire})
    assert type(made.stream_status.stream) is str
    assert made.stream_status.range_complete.gte is gte  # type: ignore[union-attr]  # a range_complete


@given(
    kind=st.sampled_from(MESSAGE_TYPES),
    update=st.dictionaries(st.sampled_from(["emitted_by", "ts", "type"]), st.none() | st.text(max_size=5)),
)
def test_a_wire_model_copies_like_pydantic(kind: str, update: dict[str, Any]) -> None:
    """``WireModel.model_copy`` takes a shortcut; what it makes is what ``BaseModel``'s makes."""
    message = parse_message({"type": kind, kind: EXAMPLES[kind]})
    for argument in (update, None):
        ours, theirs = message.model_copy(update=argument), BaseModel.model_copy(message, update=argument)
        assert type(ours) is type(theirs)
        assert ours.__dict__ == theirs.__dict__
        assert list(ours.__dict__) == list(theirs.__dict__)
        assert ours.model_fields_set == theirs.model_fields_set
        assert (ours.__pydantic_extra__, ours.__pydantic_private__) == (None, None)
        assert ours.__dict__ is not message.__dict__
        assert ours.model_fields_set is not message.model_fields_set
    deep = message.model_copy(update=update, deep=True)
    assert deep.__dict__ == BaseModel.model_copy(message, update=update, deep=True).__dict__
