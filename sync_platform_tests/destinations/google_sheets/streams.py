"""Stripe-like streams and records for the Google Sheets tests, and a way to run the destination.

The schema follows docs/json-schema-conventions.md (unix-time timestamps, an expandable reference,
nested objects, ``_account_id`` and ``_updated_at``), so conversions are exercised the way the
Stripe source will exercise them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

from sync_platform.destinations.google_sheets import GoogleSheetsDestination
from sync_platform.engine import blocking
from sync_platform.engine.destination_kit import FlushReport
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    ControlMessage,
    DestinationConfigControl,
    LogMessage,
    Message,
    RecordMessage,
    SourceStateMessage,
    Stream,
    StreamError,
    StreamStatusMessage,
    record,
    stream_state,
)

ACCOUNT = "acct_1"

CUSTOMER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "balance": {"type": "integer"},
        "created": {"type": "integer", "format": "unix-time"},
        "default_source": {"type": ["string", "null"], "x-expandable-reference": True},
        "metadata": {"type": ["object", "null"]},
        "delinquent": {"type": "boolean"},
        "_account_id": {"type": "string"},
        "_updated_at": {"type": "integer", "format": "unix-time"},
    },
    "required": ["id", "_account_id", "_updated_at"],
}

CUSTOMER_COLUMNS = [
    "id",
    "_account_id",
    "_updated_at",
    "name",
    "email",
    "balance",
    "created",
    "default_source",
    "metadata",
    "delinquent",
]


def stream(name: str, schema: dict[str, Any] | None = CUSTOMER_SCHEMA) -> Stream:
    return Stream(
        name=name, primary_key=[["id"], ["_account_id"]], json_schema=schema, newer_than_field="_updated_at"
    )


def catalog(*names: str, schema: dict[str, Any] | None = CUSTOMER_SCHEMA) -> ConfiguredCatalog:
    return ConfiguredCatalog(streams=[ConfiguredStream(stream=stream(name, schema)) for name in names])


def row(object_id: str, version: int, *, account: str = ACCOUNT, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": object_id,
        "name": f"Name of {object_id}",
        "email": f"{object_id}@example.com",
        "balance": version,
        "created": 1_700_000_000,
        "default_source": None,
        "metadata": {"plan": "pro"},
        "delinquent": False,
        "_account_id": account,
        "_updated_at": version,
    }
    data.update(fields)
    return data


def upsert(stream_name: str, object_id: str, version: int, **fields: Any) -> RecordMessage:
    return record(stream_name, row(object_id, version, **fields))


def tombstone(stream_name: str, object_id: str, version: int, *, account: str = ACCOUNT) -> RecordMessage:
    return record(
        stream_name, {"id": object_id, "_account_id": account, "_updated_at": version}, deleted=True
    )


def checkpoint(stream_name: str, offset: int) -> SourceStateMessage:
    return stream_state(stream_name, {"offset": offset})


async def _feed(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


def write(
    destination: GoogleSheetsDestination,
    config: dict[str, Any],
    catalog: ConfiguredCatalog,
    messages: Iterable[Message],
) -> list[Message]:
    """Everything ``destination.write`` yields for ``messages``."""

    async def collect() -> list[Message]:
        return [out async for out in destination.write(config, catalog, _feed(messages))]

    return blocking.run(collect())


def setup(
    destination: GoogleSheetsDestination, config: dict[str, Any], catalog: ConfiguredCatalog
) -> list[Message]:
    async def collect() -> list[Message]:
        return [out async for out in destination.setup(config, catalog)]

    return blocking.run(collect())


def teardown(destination: GoogleSheetsDestination, config: dict[str, Any]) -> list[Message]:
    async def collect() -> list[Message]:
        return [out async for out in destination.teardown(config)]

    return blocking.run(collect())


def states(messages: list[Message]) -> list[Any]:
    return [m.source_state.data for m in messages if isinstance(m, SourceStateMessage)]


def logged(messages: list[Message], text: str) -> list[dict[str, Any]]:
    """The ``data`` of every log message whose text contains ``text``."""
    return [m.log.data or {} for m in messages if isinstance(m, LogMessage) and text in m.log.message]


def flushed(messages: list[Message], stream: str) -> list[dict[str, Any]]:
    """``{"stream", and the four counts}`` of each flush report of ``stream``."""
    reports = [FlushReport.from_log(m) for m in messages if isinstance(m, LogMessage)]
    return [{"stream": r.stream, **r.counts()} for r in reports if r is not None and r.stream == stream]


def log_lines(messages: list[Message]) -> list[str]:
    return [m.log.message for m in messages if isinstance(m, LogMessage)]


def stream_errors(messages: list[Message]) -> list[StreamError]:
    return [
        m.stream_status
        for m in messages
        if isinstance(m, StreamStatusMessage) and isinstance(m.stream_status, StreamError)
    ]


def reported_config(messages: list[Message]) -> dict[str, Any]:
    """The replacement config a ``destination_config`` control message reported."""
    (control,) = [m.control for m in messages if isinstance(m, ControlMessage)]
    assert isinstance(control, DestinationConfigControl)
    return dict(control.destination_config)
