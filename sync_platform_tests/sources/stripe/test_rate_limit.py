"""The token bucket paces requests on the injected clock; waits are driven, never slept."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from sync_platform.engine import FakeClock
from sync_platform.sources.stripe.rate_limit import TokenBucket


def test_a_free_slot_costs_no_wait_and_a_taken_one_costs_one_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock)
    assert bucket.reserve() == 0
    assert bucket.reserve() == pytest.approx(0.1)
    assert bucket.reserve() == pytest.approx(0.2)


def test_a_slower_rate_waits_longer() -> None:
    fast, slow = TokenBucket(20, FakeClock()), TokenBucket(5, FakeClock())
    fast.reserve(), slow.reserve()
    assert slow.reserve() > fast.reserve()


def test_idle_time_refills_only_up_to_the_capacity() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock, capacity=3)
    clock.advance(60)
    assert [bucket.reserve() for _ in range(4)] == [0, 0, 0, pytest.approx(0.1)]


def test_requests_never_exceed_the_rate_in_any_window() -> None:
    """Whatever the arrival pattern, grants are spaced at least 1/rate apart (capacity 1)."""
    clock = FakeClock()
    bucket = TokenBucket(25, clock)
    grants = []
    for step in range(200):
        clock.advance(0.013 * (step % 7))  # bursts and lulls
        grants.append(clock.monotonic() + bucket.reserve())
    gaps = [b - a for a, b in itertools.pairwise(grants)]
    assert min(gaps) >= 1 / 25 - 1e-9


def test_acquire_waits_on_the_clock_and_cancelling_a_wait_fetches_nothing() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        bucket = TokenBucket(2, clock)
        await bucket.acquire()  # free
        waiter = asyncio.create_task(bucket.acquire())
        await clock.until_sleeping()
        assert not waiter.done()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        # the cancelled caller gave its slot back: the next caller gets it, not the one after
        assert bucket.reserve() == pytest.approx(0.5)

    asyncio.run(scenario())


def test_a_waiter_proceeds_when_its_slot_comes() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        bucket = TokenBucket(4, clock)
        await bucket.acquire()
        waiter = asyncio.create_task(bucket.acquire())
        await clock.until_sleeping()
        clock.advance(0.2)
        await asyncio.sleep(0)
        assert not waiter.done()
        clock.advance(0.05)
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        TokenBucket(0, FakeClock())
