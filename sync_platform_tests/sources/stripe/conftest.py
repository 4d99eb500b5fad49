"""Helpers for Stripe source tests: every read goes through the real SDK to a real emulator.

``InstantClock`` is a real clock whose sleeps return at once while its monotonic time jumps ahead,
so a retry after ``Retry-After: 1`` costs no wall time and the waits a test cares about are
recorded in ``slept`` instead of measured.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_platform.emulator import LoggedRequest, RunningEmulator
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConfiguredStream,
    Message,
    OpenTimeRange,
    SourceState,
    SyncMode,
    rendered_state,
)
from sync_platform.sources.stripe import StripeSource, catalog_payload

FAST_RATE = 2_000  # requests/s: far above what a test sends, so pacing never slows a test


class InstantClock:
    """Wall time as it is; ``sleep`` returns at once and moves ``monotonic`` ahead by the wait."""

    def __init__(self) -> None:
        self._offset = 0.0
        self.slept: list[float] = []

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.slept.append(seconds)
            self._offset += seconds
        await asyncio.sleep(0)


@pytest.fixture
def instant_clock() -> InstantClock:
    return InstantClock()


@pytest.fixture
def source(instant_clock: InstantClock) -> StripeSource:
    return StripeSource(clock=instant_clock)


def source_config(emulator: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_key": emulator.secret_key,
        "base_url": emulator.base_url,
        "rate_limit": FAST_RATE,
        "max_retries": 3,
    }
    config.update(overrides)
    return config


def catalog_for(
    names: Iterable[str],
    *,
    accounts: Iterable[str] = ("acct_any",),
    mode: SyncMode = SyncMode.FULL_REFRESH,
    backfill_limit: int | None = None,
    time_range: OpenTimeRange | None = None,
) -> ConfiguredCatalog:
    payload = catalog_payload(list(accounts), list(names))
    return ConfiguredCatalog(
        streams=[
            ConfiguredStream(
                stream=stream, sync_mode=mode, backfill_limit=backfill_limit, time_range=time_range
            )
            for stream in payload.streams
        ]
    )


async def _collect(messages: AsyncIterator[Message]) -> list[Message]:
    """Every message, a deferred checkpoint written out only once the read has ended: each one
    must still say what it said when the source took it (``DeferredStateData``)."""
    taken = [message async for message in messages]
    return [rendered_state(message) for message in taken]


def read(
    source: StripeSource,
    config: dict[str, Any],
    catalog: ConfiguredCatalog,
    state: SourceState | None = None,
    input: AsyncIterable[Any] | None = None,
) -> list[Message]:
    """Every message of one ``read``, to its end."""
    return asyncio.run(_collect(source.read(config, catalog, state, input)))


async def pushed(*items: Any) -> AsyncIterator[Any]:
    for item in items:
        yield item


def records(messages: Iterable[Message], stream: str | None = None) -> list[dict[str, Any]]:
    return [
        m.record.data
        for m in messages
        if m.type == "record" and (stream is None or m.record.stream == stream)
    ]


def ids(messages: Iterable[Message], stream: str | None = None) -> list[str]:
    return [data["id"] for data in records(messages, stream)]


def statuses(messages: Iterable[Message], stream: str) -> list[str]:
    return [
        m.stream_status.status
        for m in messages
        if m.type == "stream_status" and m.stream_status.stream == stream
    ]


def stream_states(messages: Iterable[Message], stream: str) -> list[Any]:
    return [
        m.source_state.data
        for m in messages
        if m.type == "source_state"
        and m.source_state.state_type == "stream"
        and m.source_state.stream == stream
    ]


def global_states(messages: Iterable[Message]) -> list[Any]:
    return [
        m.source_state.data
        for m in messages
        if m.type == "source_state" and m.source_state.state_type == "global"
    ]


def fold_state(messages: Iterable[Message], prior: SourceState | None = None) -> SourceState:
    """The source state a destination would hold after committing every checkpoint in ``messages``."""
    streams = dict(prior.streams) if prior is not None else {}
    global_ = dict(prior.global_) if prior is not None else {}
    for m in messages:
        if m.type == "source_state":
            if m.source_state.state_type == "global":
                global_ = m.source_state.data
            else:
                streams[m.source_state.stream] = m.source_state.data
    return SourceState.model_validate({"streams": streams, "global": global_})


def list_calls(emulator: RunningEmulator, path: str, *, account: str | None = None) -> list[LoggedRequest]:
    return [
        entry
        for entry in emulator.requests.entries()
        if entry.path == path and entry.method == "GET" and entry.account == account
    ]


def live_ids(emulator: RunningEmulator, stream: str, *, account_id: str | None = None) -> set[str]:
    return {obj["id"] for obj in emulator.objects(stream, account_id=account_id)}
