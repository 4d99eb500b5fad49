"""The receiver's target cache: one read per pipeline per TTL, and lifecycle changes seen after it."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import SecretStr

from sync_platform.pipelines import DesiredStatus, Lanes, PipelineStatus, WebhookTarget
from sync_platform.webhooks import TargetCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def target(desired: DesiredStatus = DesiredStatus.ACTIVE) -> WebhookTarget:
    return WebhookTarget(
        pipeline_id="shop",
        source_type="stripe",
        desired_status=desired,
        status=PipelineStatus.READY,
        lanes=Lanes(webhook_intake=desired is not DesiredStatus.DELETED),
        secrets=(SecretStr("whsec_x"),),
    )


class Table:
    """What the store would answer per pipeline id; counts the reads."""

    def __init__(self) -> None:
        self.rows: dict[str, WebhookTarget] = {"shop": target()}
        self.reads = 0
        self.fail = False
        self.gate: asyncio.Event | None = None

    async def load(self, pipeline_id: str) -> WebhookTarget | None:
        self.reads += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise ConnectionError("database down")
        return self.rows.get(pipeline_id)


def test_a_burst_within_the_ttl_reads_the_pipeline_once() -> None:
    table, clock = Table(), Clock()
    cache = TargetCache(table.load, ttl_seconds=1.0, monotonic=clock)

    async def burst() -> None:
        for _ in range(100):
            assert await cache.get("shop") == target()

    asyncio.run(burst())
    assert table.reads == 1


def test_a_delete_shows_once_the_ttl_has_passed() -> None:
    table, clock = Table(), Clock()
    cache = TargetCache(table.load, ttl_seconds=1.0, monotonic=clock)

    async def scenario() -> list[DesiredStatus | None]:
        seen = []
        first = await cache.get("shop")
        table.rows["shop"] = target(DesiredStatus.DELETED)
        clock.now += 0.5
        within = await cache.get("shop")
        clock.now += 0.6
        after = await cache.get("shop")
        for found in (first, within, after):
            seen.append(found.desired_status if found else None)
        return seen

    assert asyncio.run(scenario()) == [DesiredStatus.ACTIVE, DesiredStatus.ACTIVE, DesiredStatus.DELETED]


def test_unknown_ids_are_remembered_too_so_a_flood_costs_one_read_per_ttl() -> None:
    table, clock = Table(), Clock()
    cache = TargetCache(table.load, ttl_seconds=1.0, monotonic=clock)

    async def flood() -> None:
        for _ in range(20):
            assert await cache.get("ghost") is None

    asyncio.run(flood())
    assert table.reads == 1


def test_concurrent_misses_share_one_read() -> None:
    """With nothing remembered (TTL 0), ten lookups during one read can only be answered by it."""
    table, clock = Table(), Clock()
    table.gate = asyncio.Event()
    cache = TargetCache(table.load, ttl_seconds=0, monotonic=clock)
    asked: list[str] = []

    async def ask() -> WebhookTarget | None:
        asked.append("shop")  # nothing between here and the cache's own wait can suspend
        return await cache.get("shop")

    async def together() -> list[WebhookTarget | None]:
        waiting = [asyncio.ensure_future(ask()) for _ in range(10)]
        while len(asked) < len(waiting):  # until every lookup waits on the read or started it
            await asyncio.sleep(0)
        assert table.gate is not None
        table.gate.set()
        return await asyncio.gather(*waiting)

    assert asyncio.run(together()) == [target()] * 10
    assert table.reads == 1
    assert asyncio.run(cache.get("shop")) == target()
    assert table.reads == 2  # TTL 0 remembers nothing: sharing, not caching, saved the reads


def test_a_failed_read_is_not_remembered() -> None:
    table, clock = Table(), Clock()
    table.fail = True
    cache = TargetCache(table.load, ttl_seconds=1.0, monotonic=clock)

    with pytest.raises(ConnectionError):
        asyncio.run(cache.get("shop"))
    table.fail = False
    assert asyncio.run(cache.get("shop")) == target()
    assert table.reads == 2


def test_ttl_zero_reads_every_time_and_invalidate_forgets_one_id() -> None:
    table, clock = Table(), Clock()
    uncached = TargetCache(table.load, ttl_seconds=0, monotonic=clock)
    asyncio.run(uncached.get("shop"))
    asyncio.run(uncached.get("shop"))
    assert table.reads == 2

    cached = TargetCache(table.load, ttl_seconds=60, monotonic=clock)
    asyncio.run(cached.get("shop"))
    cached.invalidate("shop")
    asyncio.run(cached.get("shop"))
    assert table.reads == 4


def test_the_cache_stays_within_its_size_bound() -> None:
    table, clock = Table(), Clock()
    cache = TargetCache(table.load, ttl_seconds=60, max_entries=3, monotonic=clock)

    async def many() -> None:
        for n in range(10):
            await cache.get(f"pipe-{n}")

    asyncio.run(many())
    assert len(cache._entries) == 3
