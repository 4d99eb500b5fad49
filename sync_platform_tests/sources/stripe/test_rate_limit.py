"""The rate limiter paces requests on the injected clock; waits are driven, never slept."""

from __future__ import annotations

import asyncio
import itertools
import math

import pytest

from sync_platform.emulator import max_in_window
from sync_platform.engine import FakeClock
from sync_platform.sources.stripe.rate_limit import (
    GROUP_JOIN_SECONDS,
    GROUP_SECONDS,
    SMOOTHING,
    RateLimiter,
)


def test_a_free_limiter_costs_no_wait_and_a_used_one_costs_the_smoothing_gap() -> None:
    async def scenario() -> None:
        limiter = RateLimiter(10, FakeClock())
        assert limiter.wait_time() == 0
        await limiter.acquire()
        assert limiter.wait_time() == pytest.approx(1 / (10 * SMOOTHING))

    asyncio.run(scenario())


def test_callers_waiting_together_are_granted_in_one_group_of_the_rate_s_share_of_a_group_span() -> None:
    """At 100/s, callers waiting at once leave in groups of 10 (one wake-up each), each group once
    the smoothing bucket has refilled for the one before."""
    group = math.floor(100 * GROUP_SECONDS)
    assert group == 10

    async def scenario() -> list[float]:
        clock = FakeClock()
        return await _grant_times(RateLimiter(100, clock), clock, 2 * group + 3, 0.001)

    times = asyncio.run(scenario())
    starts = sorted(set(times))
    assert [times.count(start) for start in starts] == [group, group, 3]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(gap >= group / (100 * SMOOTHING) - 1e-9 for gap in gaps)
    assert all(gap < group / (100 * SMOOTHING) + 0.002 for gap in gaps)  # no later than the step after


def test_a_slow_rate_grants_one_at_a_time() -> None:
    async def scenario() -> list[float]:
        clock = FakeClock()
        return await _grant_times(RateLimiter(1 / GROUP_SECONDS * 1.9, clock), clock, 6, 0.001)

    times = asyncio.run(scenario())
    assert len(set(times)) == 6
    assert min(b - a for a, b in itertools.pairwise(times)) >= 1 / (19 * SMOOTHING) - 1e-9


def test_a_slower_rate_waits_longer() -> None:
    async def scenario() -> None:
        fast, slow = RateLimiter(10, FakeClock()), RateLimiter(5, FakeClock())
        await fast.acquire()
        await slow.acquire()
        assert slow.wait_time() > fast.wait_time() > 0

    asyncio.run(scenario())


async def _grant_times(limiter: RateLimiter, clock: FakeClock, count: int, step: float) -> list[float]:
    """Grant times of ``count`` concurrent callers while the clock moves in steps of ``step``."""
    times: list[float] = []

    async def caller() -> None:
        await limiter.acquire()
        times.append(clock.monotonic())

    callers = [asyncio.create_task(caller()) for _ in range(count)]
    while len(times) < count:
        await asyncio.sleep(0)
        if clock.sleepers:
            clock.advance(step)
    await asyncio.gather(*callers)
    return times


@pytest.mark.parametrize("rate", [0.5, 2.5, 25, 100])
@pytest.mark.parametrize("step", [0.001, 0.013, 0.3])
def test_no_second_ever_holds_more_grants_than_the_rate_even_when_callers_wake_late(
    rate: float, step: float
) -> None:
    """A coarse clock stands for a busy event loop that wakes sleepers late: grants are delayed,
    never bunched above the limit."""

    async def scenario() -> list[float]:
        clock = FakeClock()
        return await _grant_times(RateLimiter(rate, clock), clock, int(rate * 3) + 5, step)

    times = asyncio.run(scenario())
    window = max(1.0, 1 / rate)  # a second, or one request's share of time below 1/s
    assert max_in_window(times, window) <= max(1, math.floor(rate * window))  # whole requests only
    # Smoothed within the window: any span holds at most one group and 1.5 x rate x its length more.
    group = max(1, math.floor(rate * GROUP_SECONDS))
    for i, j in itertools.combinations(range(len(times)), 2):
        span = times[j] - times[i] + GROUP_JOIN_SECONDS
        assert j - i + 1 <= group + SMOOTHING * rate * span + 1e-9


def test_over_time_the_rate_is_used_fully() -> None:
    async def scenario() -> list[float]:
        clock = FakeClock()
        return await _grant_times(RateLimiter(25, clock), clock, 100, 0.001)

    times = asyncio.run(scenario())
    assert times[-1] - times[0] < 100 / 25 * 1.05  # 100 grants in about four seconds


def test_urgent_callers_go_ahead_of_those_already_waiting() -> None:
    async def scenario() -> list[str]:
        clock = FakeClock()
        limiter = RateLimiter(10, clock)
        order: list[str] = []
        await limiter.acquire()

        async def caller(name: str, urgent: bool) -> None:
            await limiter.acquire(urgent=urgent)
            order.append(name)

        tasks = [asyncio.create_task(caller("first", False))]
        await clock.until_sleeping()  # "first" holds the turn, waiting for its slot
        tasks += [asyncio.create_task(caller(name, name == "urgent")) for name in ("second", "urgent")]
        while len(order) < 3:
            await asyncio.sleep(0)
            if clock.sleepers:
                clock.advance(0.05)
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == ["first", "urgent", "second"]


def test_cancelling_a_waiting_caller_takes_nothing_and_passes_the_turn_on() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        limiter = RateLimiter(2, clock)
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        queued = asyncio.create_task(limiter.acquire())
        await clock.until_sleeping()
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert limiter.granted == 1
        clock.advance(1)
        await asyncio.wait_for(queued, 1)
        assert limiter.granted == 2

    asyncio.run(scenario())


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate must be > 0"):
        RateLimiter(0, FakeClock())
