"""Paces requests to at most ``rate`` per second, on an injectable clock.

One limiter serves a whole read: every stream and every Connect account draws from it, because
Stripe counts requests per account key, not per stream.

"At most ``rate`` per second" is a property of every one-second window, so that is what the
limiter enforces: a grant waits until fewer than ``rate`` grants lie in the last second (a
fractional rate is rounded down, since a second cannot hold half a request; below one per second
the window is one request's share of time). A plain token bucket cannot promise it: a full bucket
of capacity C lets C requests out at once and ``rate`` more within the same second. Inside the
window, a smoothing bucket refilled at 1.5 times the rate with room for one small group of grants
(below) keeps a window's requests from leaving in one burst: any span of t seconds holds at most
one group and ``1.5 x rate x t`` more. The window is 25 ms longer than it needs to be: a request
reaches Stripe a little after it is granted, by a delay that varies, and without the margin two
windows' worth of requests can land in one second at Stripe's end.

Why not space grants exactly ``1 / rate`` apart? A read's event loop is often busy for a few
milliseconds (parsing a page), so sleepers wake late; with strict spacing each late wake-up is
lost for good and a read paced at 100/s runs at 60/s. The window lets a late request be made up
for within the same second, never beyond it. Callers are served one at a time, and every rule
applies to the time a grant is actually made, so late wake-ups can delay requests but never
bunch them above the limit.

Grants leave in small groups: up to ``rate x GROUP_SECONDS`` callers waiting together (10 at
100/s, 2 at 25/s, one below 20/s) are granted in one wake-up, and the next group waits until the smoothing
bucket has refilled for all of them. Each wake-up of a process costs far more than the few
microseconds of the grant itself (the event loop's turn, the scheduler, cold caches: measured
on the CI machine, 100 small requests a second cost 0.82-0.84 ms of CPU each when sent one by
one and 0.25-0.27 ms when sent in groups of 10, the same requests at the same rate), and a
group's answers come back together, so the pages are handled in one wake-up too. That matters
most to a Connect platform, whose pages carry a few objects each.

Callers are served first come, first served, except that ``urgent`` ones go ahead of the others
still waiting. The backfill marks the pages of a range it cannot split (a second holding more
objects than a page, which only a cursor can walk through) as urgent: those pages are a chain
that nothing can parallelize, so every wait in it lengthens the whole backfill.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque

from sync_platform.engine.clock import Clock

SMOOTHING = 1.5  # grants may momentarily come this many times faster than the rate
WINDOW_MARGIN = 0.025  # seconds added to the window for the jitter between grant and arrival
GROUP_SECONDS = 0.1  # a group of grants holds up to this many seconds' worth of the rate
GROUP_JOIN_SECONDS = 0.005  # a waiter served this soon after its group began still joins it


class RateLimiter:
    """``acquire()`` returns once a request may go out without exceeding ``rate`` per second."""

    def __init__(self, rate: float, clock: Clock) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        self.rate = rate
        self._clock = clock
        base = max(1.0, 1.0 / rate)  # one second, or one request's share of time below 1/s
        self.per_window = max(1, math.floor(rate * base))
        self.window = base + WINDOW_MARGIN
        self._gap = 1.0 / (rate * SMOOTHING)  # the smoothing bucket refills one grant this often
        self.group_limit = max(1, math.floor(rate * GROUP_SECONDS))
        self._recent: deque[float] = deque()  # grant times inside the current window
        self._group_at = -math.inf  # when the current group's first grant was made
        self._group_size = 0
        self._busy = False  # a caller holds the turn (it is waiting for its slot)
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()
        self.granted = 0

    def wait_time(self) -> float:
        """Seconds until the next grant would be allowed (0 if one is allowed now)."""
        now = self._clock.monotonic()
        while self._recent and self._recent[0] <= now - self.window:
            self._recent.popleft()
        if self._joins_group(now):
            wait = 0.0
        else:  # a new group, once the bucket has refilled for the last one
            wait = self._group_at + self._group_size * self._gap - now
        if len(self._recent) >= self.per_window:
            wait = max(wait, self._recent[0] + self.window - now)
        return max(0.0, wait)

    def _joins_group(self, now: float) -> bool:
        return self._group_size < self.group_limit and now - self._group_at <= GROUP_JOIN_SECONDS

    def _grant(self) -> None:
        now = self._clock.monotonic()
        if self._joins_group(now):
            self._group_size += 1
        else:
            self._group_at, self._group_size = now, 1
        self._recent.append(now)
        self.granted += 1

    async def acquire(self, *, urgent: bool = False) -> None:
        """Wait for a grant. Cancelling a waiting caller takes nothing from the limiter."""
        if self._busy or self._urgent or self._normal:
            turn = asyncio.get_running_loop().create_future()
            (self._urgent if urgent else self._normal).append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # the turn came just as we were cancelled
                    self._pass_turn()
                else:
                    waiters = self._urgent if urgent else self._normal
                    if turn in waiters:
                        waiters.remove(turn)
                raise
        else:
            self._busy = True
        try:
            while (wait := self.wait_time()) > 0:
                await self._clock.sleep(wait)
            self._grant()
        finally:
            self._pass_turn()

    def _pass_turn(self) -> None:
        for waiters in (self._urgent, self._normal):
            while waiters:
                turn = waiters.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return  # ``_busy`` stays True: the turn moved to that caller
        self._busy = False
