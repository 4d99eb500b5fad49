"""The commit fence: a state comes back only once everything before it is committed."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql

from sync_platform.destinations.postgres import PostgresDestination, row_count
from sync_platform.destinations.postgres.config import APPLICATION_NAME
from sync_platform.protocol import Message, SourceStateMessage, global_state, stream_state
from sync_platform_tests.destinations.postgres.conftest import (
    catalog_of,
    collect,
    errors,
    flush_stats,
    select,
    setup,
    state_streams,
    states,
    stripe_stream,
    version,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

CATALOG = catalog_of(stripe_stream("charge"), stripe_stream("customer"))


async def rows_when_states_come_back(
    config: dict[str, Any], messages: list[Message]
) -> list[tuple[str, int]]:
    """For each state the destination re-emits: its stream (or "global") and the rows committed then."""

    async def source() -> AsyncIterator[Message]:
        for message in messages:
            yield message

    seen: list[tuple[str, int]] = []
    async for message in PostgresDestination().write(config, CATALOG, source()):
        if isinstance(message, SourceStateMessage):
            stream = getattr(message.source_state, "stream", "global")
            committed = row_count(config, "charge") + row_count(config, "customer")
            seen.append((stream, committed))
    return seen


def test_a_stream_state_comes_back_only_after_its_records_are_committed(config: dict[str, Any]) -> None:
    setup(config, CATALOG)
    messages: list[Message] = [version("charge", f"ch_{i}", 1) for i in range(3)]
    messages += [
        stream_state("charge", {"page": 1}),
        version("charge", "ch_9", 1),
        stream_state("charge", {"page": 2}),
    ]
    seen = asyncio.run(rows_when_states_come_back(config, messages))
    assert [stream for stream, _ in seen] == ["charge", "charge"]
    assert seen[0][1] >= 3  # every record before the first state was committed when it came back
    assert seen[1][1] == 4


def test_a_global_state_flushes_every_stream_first(config: dict[str, Any]) -> None:
    """Reference bug #8: a global state echoed before the buffers flushed let the events cursor
    outrun the data it covers."""
    setup(config, CATALOG)
    messages: list[Message] = [version("charge", "ch_1", 1), version("customer", "cus_1", 1)]
    messages += [version("customer", "cus_2", 1), global_state({"events_cursor": 42})]
    assert asyncio.run(rows_when_states_come_back(config, messages)) == [("global", 3)]


def test_a_full_buffer_flushes_without_waiting_for_a_state(config: dict[str, Any]) -> None:
    output = write({**config, "batch_size": 2}, CATALOG, [version("charge", f"ch_{i}", 1) for i in range(5)])
    assert [stats["records"] for stats in flush_stats(output)] == [2, 2, 1]


def test_no_global_state_comes_back_once_a_stream_failed(config: dict[str, Any]) -> None:
    broken = version("charge", "ch_2", 1).model_copy()
    broken.record.data.pop("_updated_at")
    output = write(
        config,
        CATALOG,
        [version("charge", "ch_1", 1), broken, version("customer", "cus_1", 1), global_state({"cursor": 1})],
    )
    assert [e.stream for e in errors(output)] == ["charge"]
    assert states(output) == []


def wait_for_blocked_writer(pg: PgTestDatabase, timeout: float = 30.0) -> int:
    """The pid of the destination's backend once it waits on a lock (polling, not sleeping to assert)."""
    deadline = time.monotonic() + timeout
    with pg.connect() as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
                (APPLICATION_NAME,),
            ).fetchone()
            if row is not None:
                return int(str(row[0]))
            time.sleep(0.02)
    raise AssertionError("the destination never blocked on the held row lock")


def test_database_killed_mid_batch_commits_nothing_of_it_and_withholds_its_state(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    setup(config, CATALOG)
    write(config, CATALOG, [version("charge", "ch_locked", 10)])
    batch: list[Message] = [
        version("charge", "ch_1", 20),
        version("charge", "ch_2", 20),
        version("charge", "ch_locked", 30, deleted=True),  # its DELETE waits on the lock below
        stream_state("charge", {"page": 1}),
        version("customer", "cus_1", 5),
        stream_state("customer", {"page": 1}),
    ]
    output: list[Message] = []
    with psycopg.connect(pg.url) as holder:
        holder.execute(
            sql.SQL("SELECT 1 FROM {} WHERE id = 'ch_locked' FOR UPDATE").format(
                sql.Identifier(pg.schema, "charge")
            )
        )
        worker = threading.Thread(target=lambda: output.extend(asyncio.run(collect(config, CATALOG, batch))))
        worker.start()
        pid = wait_for_blocked_writer(pg)
        with pg.connect() as killer:
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        holder.rollback()
    worker.join(timeout=60)
    assert not worker.is_alive()

    [error] = errors(output)
    assert error.stream == "charge"
    assert "Nothing of that batch was committed" in error.error
    assert state_streams(output) == ["customer"]  # the other stream carried on
    assert select(pg, "charge", "id") == [("ch_locked",)]  # ch_1 and ch_2 were rolled back with it
    assert select(pg, "customer", "id") == [("cus_1",)]

    rerun = write(config, CATALOG, batch)
    assert errors(rerun) == []
    assert state_streams(rerun) == ["charge", "customer"]
    assert select(pg, "charge", "id") == [("ch_1",), ("ch_2",)]
    assert select(pg, "customer", "id") == [("cus_1",)]


def test_an_unreachable_database_fails_each_stream_and_returns_no_state(config: dict[str, Any]) -> None:
    unreachable = {**config, "url": "postgresql://nobody@127.0.0.1:1/none", "connect_timeout": 2}
    output = write(unreachable, CATALOG, [version("charge", "ch_1", 1), stream_state("charge", {})])
    [error] = errors(output)
    assert "Cannot connect to PostgreSQL" in error.error
    assert states(output) == []
