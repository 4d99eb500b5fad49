"""Helpers for the PostgreSQL destination tests: Stripe-shaped streams, a config on the test's
own schema, and a way to run ``write()`` to completion and read the table back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from sync_platform.destinations.postgres import PostgresDestination
from sync_platform.engine.destination_kit import FlushReport
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    LogMessage,
    Message,
    RecordMessage,
    SourceStateMessage,
    Stream,
    StreamError,
    StreamStatusMessage,
    record,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

ACCOUNT = "acct_1Test"

CHARGE_PROPERTIES: dict[str, Any] = {
    "id": {"type": "string"},
    "object": {"type": "string"},
    "amount": {"type": "integer"},
    "paid": {"type": ["boolean", "null"]},
    "description": {"type": ["string", "null"]},
    "_account_id": {"type": "string", "enum": [ACCOUNT]},
    "_updated_at": {"type": "integer", "format": "unix-time"},
}


def stripe_stream(name: str = "charge", properties: dict[str, Any] | None = None) -> Stream:
    """A stream as the Stripe source describes one (docs/json-schema-conventions.md)."""
    return Stream(
        name=name,
        primary_key=[["id"], ["_account_id"]],
        json_schema={
            "type": "object",
            "properties": properties if properties is not None else CHARGE_PROPERTIES,
            "required": ["id", "_account_id", "_updated_at"],
        },
        newer_than_field="_updated_at",
    )


def catalog_of(*streams: Stream) -> ConfiguredCatalog:
    return ConfiguredCatalog(streams=[ConfiguredStream(stream=stream) for stream in streams])


def obj(id: str, updated_at: int, **fields: Any) -> dict[str, Any]:
    """A Stripe-like object of ``ACCOUNT`` at source time ``updated_at``."""
    return {"id": id, "object": "charge", "_account_id": ACCOUNT, "_updated_at": updated_at, **fields}


def version(stream: str, id: str, updated_at: int, *, deleted: bool = False, **fields: Any) -> RecordMessage:
    return record(stream, obj(id, updated_at, **fields), deleted=deleted)


async def _aiter(messages: Iterable[Message]) -> AsyncIterator[Message]:
    for message in messages:
        yield message


async def collect(
    config: dict[str, Any], catalog: ConfiguredCatalog, messages: Iterable[Message] | AsyncIterator[Message]
) -> list[Message]:
    source = messages if isinstance(messages, AsyncIterator) else _aiter(messages)
    return [message async for message in PostgresDestination().write(config, catalog, source)]


def write(config: dict[str, Any], catalog: ConfiguredCatalog, messages: Iterable[Message]) -> list[Message]:
    """Run one ``write()`` over ``messages`` and return everything it yielded."""
    return asyncio.run(collect(config, catalog, messages))


def setup(config: dict[str, Any], catalog: ConfiguredCatalog) -> list[Message]:
    async def run() -> list[Message]:
        return [message async for message in PostgresDestination().setup(config, catalog)]

    return asyncio.run(run())


def teardown(config: dict[str, Any]) -> list[Message]:
    async def run() -> list[Message]:
        return [message async for message in PostgresDestination().teardown(config)]

    return asyncio.run(run())


def states(output: list[Message]) -> list[SourceStateMessage]:
    return [m for m in output if isinstance(m, SourceStateMessage)]


def errors(output: list[Message]) -> list[StreamError]:
    """The ``stream_status: error`` payloads in ``output``."""
    return [
        m.stream_status
        for m in output
        if isinstance(m, StreamStatusMessage) and isinstance(m.stream_status, StreamError)
    ]


def state_streams(output: list[Message]) -> list[str]:
    """The stream of each re-emitted state, in order ("global" for a global state)."""
    return [getattr(m.source_state, "stream", "global") for m in states(output)]


def logs(output: list[Message], level: str | None = None) -> list[LogMessage]:
    return [m for m in output if isinstance(m, LogMessage) and (level is None or m.log.level == level)]


def flush_stats(output: list[Message]) -> list[dict[str, Any]]:
    """Every per-flush report, as the destination kit's ``FlushReport`` reads it back."""
    reports = [FlushReport.from_log(m) for m in logs(output, "debug")]
    return [report.model_dump() for report in reports if report is not None]


def totals(output: list[Message]) -> dict[str, int]:
    summed: dict[str, int] = {}
    for stats in flush_stats(output):
        for key in ("records", "inserted", "updated", "skipped_stale", "deleted"):
            summed[key] = summed.get(key, 0) + stats[key]
    return summed


def select(pg: PgTestDatabase, table: str, columns: str = "*", order: str = "1") -> list[tuple[Any, ...]]:
    """Rows of ``pg.schema.table``; ``columns`` and ``order`` are trusted test SQL."""
    query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        sql.SQL(columns), sql.Identifier(pg.schema, table), sql.SQL(order)
    )
    with pg.connect() as connection:
        return connection.execute(query).fetchall()


@pytest.fixture
def config(pg: PgTestDatabase) -> dict[str, Any]:
    """A destination config writing into the test's own schema."""
    return {"url": pg.url, "schema": pg.schema, "batch_size": 100}


@pytest.fixture
def password_role(pg: PgTestDatabase) -> Iterator[str]:
    """A role that must log in with a password (the embedded server trusts everyone else)."""
    role = f"pw_{uuid.uuid4().hex[:8]}"
    with pg.connect() as connection:
        hba_file = Path(str(connection.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        if not hba_file.is_file():
            pytest.skip("the server's pg_hba.conf is not on this machine")
        original = hba_file.read_text()
        hba_file.write_text(
            f"local all {role} scram-sha-256\nhost all {role} 127.0.0.1/32 scram-sha-256\n{original}"
        )
        connection.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD 'right-password'").format(sql.Identifier(role))
        )
        connection.execute("SELECT pg_reload_conf()")
    try:
        yield role
    finally:
        hba_file.write_text(original)
        with pg.connect() as connection:
            connection.execute("SELECT pg_reload_conf()")
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
