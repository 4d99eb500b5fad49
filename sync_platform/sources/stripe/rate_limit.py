"""A token bucket that spaces requests to at most ``rate`` per second, on an injectable clock.

One bucket serves a whole read: every stream and every Connect account draws from it, because
Stripe counts requests per account key, not per stream. The default capacity is one token, i.e.
strict pacing (one request every ``1 / rate`` seconds): a bucket that starts full lets ``capacity``
requests out at once and then ``rate`` more in the same second, which is up to twice the limit in
a one-second window. Pacing loses nothing in throughput, since a backfill always has more requests
waiting than the bucket lets through.

Reservations are first come, first served: each caller is given the next free slot and sleeps
until it. A caller that is cancelled while waiting gives its slot back only if no later slot was
handed out, so a cancellation never lets two requests out closer than the pacing allows.
"""

from __future__ import annotations

from sync_platform.engine.clock import Clock


class TokenBucket:
    """``acquire()`` returns once a request may go out; ``rate`` tokens per second, ``capacity`` banked."""

    def __init__(self, rate: float, clock: Clock, *, capacity: float = 1.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 requests per second, got {rate}")
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1 token, got {capacity}")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._interval = 1.0 / rate
        self._burst = (capacity - 1) * self._interval
        # The "theoretical arrival time" of the generic cell rate algorithm: when the next request
        # would go out at the steady rate. The bucket is full while it lies at or before now.
        self._next_free = clock.monotonic()
        self.granted = 0

    def reserve(self) -> float:
        """Take the next slot; returns the seconds to wait before using it (0 if it is free now)."""
        now = self._clock.monotonic()
        slot = max(self._next_free, now)
        self._next_free = slot + self._interval
        self.granted += 1
        return max(0.0, slot - self._burst - now)

    async def acquire(self) -> None:
        """Wait for a slot. Cancellation while waiting is safe (see the module docstring)."""
        wait = self.reserve()
        if wait <= 0:
            return
        handed_out = self._next_free
        try:
            await self._clock.sleep(wait)
        except BaseException:
            if self._next_free == handed_out:  # nobody reserved after us: the slot goes back
                self._next_free -= self._interval
                self.granted -= 1
            raise
