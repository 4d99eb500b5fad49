"""Where the engine gets time from, so tests can drive limits and rates without sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Wall time for timestamps, monotonic time for deadlines, and a sleep that honours both."""

    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when a test calls ``advance``; sleepers wake when their time comes."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)
        self._elapsed = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> asyncio.Future[None]:
        """A future that resolves once ``advance`` has moved time ``seconds`` past *now*.

        The sleeper is registered when ``sleep`` is called, not when it is first awaited, so a
        test that advances the clock right after scheduling a sleep never misses it.
        """
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if seconds <= 0:
            future.set_result(None)
            return future
        heapq.heappush(self._sleepers, (self._elapsed + seconds, next(self._order), future))
        return future

    @property
    def sleepers(self) -> int:
        """How many sleeps are waiting for time to move."""
        return sum(1 for _, _, future in self._sleepers if not future.done())

    async def until_sleeping(self, count: int = 1, *, max_turns: int = 10_000) -> None:
        """Let other tasks run until ``count`` sleeps are waiting (a test waits for "idle" this way)."""
        for _ in range(max_turns):
            if self.sleepers >= count:
                return
            await asyncio.sleep(0)
        raise AssertionError(f"expected {count} sleeper(s), found {self.sleepers}")

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._elapsed += seconds
        while self._sleepers and self._sleepers[0][0] <= self._elapsed:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
