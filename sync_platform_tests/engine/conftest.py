"""Connector doubles for engine tests: a scripted source and a recording destination.

These implement the real Source/Destination contracts (they are connectors, not mocks), so the
engine under test runs exactly as it does with Stripe and Postgres.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from sync_platform.engine import ConnectorRegistry, Engine, FakeClock, NoSetup
from sync_platform.engine.connectors import Config
from sync_platform.protocol import (
    CatalogPayload,
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusPayload,
    ConnectorSpecification,
    Message,
    PipelineConfig,
    RecordMessage,
    SourceState,
    SourceStateMessage,
    Stream,
    record,
    stream_state,
)

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "email": {"type": "string"},
        "_updated_at": {"type": "integer"},
    },
}


def rec(stream: str, identifier: str, **fields: Any) -> RecordMessage:
    return record(stream, {"id": identifier, **fields})


def state(stream: str, cursor: Any) -> SourceStateMessage:
    return stream_state(stream, {"cursor": cursor})


@dataclass
class ReadCall:
    streams: list[str]
    state: SourceState | None
    catalog: ConfiguredCatalog


@dataclass
class ScriptedSource(NoSetup):
    """Yields a fixed script of messages; ``then`` decides what happens after it (end, block, raise)."""

    script: list[Message] = field(default_factory=list)
    streams: list[str] = field(default_factory=lambda: ["customer", "invoice"])
    then: str = "end"  # "end" | "block" | "raise" | "forever"
    calls: list[ReadCall] = field(default_factory=list)
    closed: asyncio.Event | None = None
    blocked: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the script is done and ``then="block"`` has started waiting (tests wait on it)."""
    yielded: int = 0
    clock: FakeClock | None = None
    tick: float = 0.0  # "forever" mode advances ``clock`` by this much per record

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(config={"type": "object", "properties": {}})

    async def check(self, config: Config) -> ConnectionStatusPayload:
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED)

    async def discover(self, config: Config) -> CatalogPayload:
        return CatalogPayload(
            streams=[Stream(name=n, primary_key=[["id"]], json_schema=SCHEMA) for n in self.streams]
        )

    async def read(
        self,
        config: Config,
        catalog: ConfiguredCatalog,
        state: SourceState | None,
        input: AsyncIterable[Any] | None = None,
    ) -> AsyncIterator[Message]:
        self.calls.append(ReadCall(catalog.stream_names(), state, catalog))
        self.closed = asyncio.Event()
        try:
            for message in self.script:
                self.yielded += 1
                yield message
            if self.then == "block":
                self.blocked.set()
                await asyncio.Event().wait()
            elif self.then == "raise":
                raise RuntimeError("source crashed")
            elif self.then == "forever":
                n = 0
                while True:
                    n += 1
                    self.yielded += 1
                    yield rec("customer", f"cus_inf_{n}")
                    if self.clock is not None and self.tick:
                        self.clock.advance(self.tick)
                    if n % 10 == 0:
                        yield stream_state("customer", {"cursor": n})
                    await asyncio.sleep(0)
        finally:
            self.closed.set()


@dataclass
class RecordingDestination(NoSetup):
    """Echoes everything (the contract's simplest form) and keeps what it received."""

    received: list[Message] = field(default_factory=list)
    soft_limit_fraction: float | None = None
    transform: Callable[[Message], Message | None] | None = None

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(
            config={"type": "object", "properties": {}}, soft_limit_fraction=self.soft_limit_fraction
        )

    async def check(self, config: Config) -> ConnectionStatusPayload:
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED)

    async def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        async for message in messages:
            self.received.append(message)
            out = self.transform(message) if self.transform else message
            if out is not None:
                yield out


@dataclass
class Harness:
    source: ScriptedSource
    destination: Any
    clock: FakeClock
    engine: Engine

    def pipeline(self, streams: list[str] | None = None) -> PipelineConfig:
        return PipelineConfig.model_validate(
            {
                "source": {"type": "scripted"},
                "destination": {"type": "test"},
                "streams": [{"name": s} for s in streams] if streams else None,
            }
        )


def make_harness(source: ScriptedSource | None = None, destination: Any = None) -> Harness:
    source = source or ScriptedSource()
    destination = destination if destination is not None else RecordingDestination()
    clock = FakeClock()
    source.clock = clock
    registry = ConnectorRegistry(
        sources={"scripted": lambda: source}, destinations={"test": lambda: destination}
    )
    registry.register_source("fixture", "sync_platform.sources.fixture:FixtureSource")
    registry.register_destination("null", "sync_platform.destinations.fixture:NullDestination")
    registry.register_destination("buffer", "sync_platform.destinations.fixture:BufferingDestination")
    return Harness(source, destination, clock, Engine(registry, clock=clock))


@pytest.fixture
def harness() -> Harness:
    return make_harness()


async def collect(iterator: AsyncIterator[Message]) -> list[Message]:
    return [message async for message in iterator]
