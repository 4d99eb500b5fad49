"""Engine.read (source only) and Engine.write (destination only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sync_platform.engine import ConnectorOutputError
from sync_platform.engine.connectors import Config
from sync_platform.protocol import (
    ConfiguredCatalog,
    EofMessage,
    Message,
    RecordMessage,
    RunStatus,
    SourceStateMessage,
    log,
    stream_complete,
    stream_start,
)
from sync_platform_tests.engine.conftest import (
    RecordingDestination,
    ScriptedSource,
    collect,
    make_harness,
    rec,
    state,
)


def test_read_yields_records_and_states_then_a_complete_eof() -> None:
    script = [
        stream_start("customer"),
        rec("customer", "c1"),
        rec("customer", "c2"),
        state("customer", 2),
        stream_complete("customer"),
    ]
    h = make_harness(ScriptedSource(script, streams=["customer"]))
    messages = asyncio.run(collect(h.engine.read(h.pipeline())))
    assert [m.type for m in messages[:-1]] == [m.type for m in script]
    eof = messages[-1]
    assert isinstance(eof, EofMessage)
    assert eof.eof.has_more is False
    assert eof.eof.status == RunStatus.SUCCEEDED
    assert eof.eof.ending_state.source.streams == {"customer": {"cursor": 2}}  # type: ignore[union-attr]


def test_read_passes_records_of_any_stream_through_unfiltered() -> None:
    h = make_harness(ScriptedSource([rec("ghost", "g1")]))
    messages = asyncio.run(collect(h.engine.read(h.pipeline())))
    assert any(isinstance(m, RecordMessage) and m.record.stream == "ghost" for m in messages)


def test_read_yields_a_failed_eof_then_raises_when_the_source_crashes() -> None:
    h = make_harness(ScriptedSource([rec("customer", "c1")], then="raise"))
    seen: list[Message] = []

    async def go() -> None:
        async for message in h.engine.read(h.pipeline()):
            seen.append(message)

    with pytest.raises(RuntimeError, match="source crashed"):
        asyncio.run(go())
    assert isinstance(seen[-1], EofMessage)
    assert seen[-1].eof.status == RunStatus.FAILED


def test_closing_read_promptly_stops_a_blocked_source() -> None:
    h = make_harness(ScriptedSource([rec("customer", "c1")], then="block"))

    async def go() -> None:
        reader = h.engine.read(h.pipeline())
        await anext(reader)
        pending = asyncio.ensure_future(anext(reader))
        await asyncio.wait_for(h.source.blocked.wait(), 10)  # the source now waits forever
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        await reader.aclose()
        assert h.source.closed is not None
        await asyncio.wait_for(h.source.closed.wait(), 1)

    asyncio.run(go())


async def messages_of(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def test_write_feeds_only_records_and_states_and_returns_the_destination_output() -> None:
    h = make_harness()
    out = asyncio.run(
        collect(
            h.engine.write(
                h.pipeline(), messages_of(log("info", "x"), rec("customer", "c1"), state("customer", 1))
            )
        )
    )
    assert [type(m) for m in h.destination.received] == [RecordMessage, SourceStateMessage]
    assert len(out) == 2


class BrokenDestination(RecordingDestination):
    async def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        async for _ in messages:
            yield {"type": "record"}  # type: ignore[misc]  # deliberately not a message model


def test_write_rejects_destination_output_that_is_not_a_message() -> None:
    h = make_harness(destination=BrokenDestination())
    with pytest.raises(ConnectorOutputError, match="destination/test"):
        asyncio.run(collect(h.engine.write(h.pipeline(), messages_of(rec("customer", "c1")))))
