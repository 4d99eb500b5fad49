"""Whether and when to retry a failed Stripe request: a pure decision from its ``HttpFailure``.

Stripe's own advice decides first: ``Stripe-Should-Retry: false`` means never, ``true`` means
retry even a status we would not (a 409 lock timeout). Otherwise 429 and 5xx are retried, and so
are network failures (no response: timeouts, resets); 4xx are answers, not accidents.

A 429 is Stripe asking the client to slow down, not a failure, so it has its own, larger retry
allowance: a burst of rate limiting (other API users of the account, a shared limit) should
delay a backfill, not fail its streams. The wait honours ``Retry-After`` when Stripe sends one
(plus up to 20 % jitter, so a crowd of rate-limited requests does not come back in the same
instant); without one it is exponential backoff with equal jitter (half the step fixed, half
random), capped, so retries spread out without ever retrying immediately.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sync_platform.sources.stripe.http import HttpFailure

RETRY_AFTER_JITTER = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6  # for 5xx and network failures
    max_rate_limited_retries: int = 20  # for 429s
    base_delay: float = 0.5  # seconds before the first retry (before jitter)
    max_delay: float = 30.0  # cap of one backoff step

    def allowance(self, error: HttpFailure) -> int:
        """How many retries this kind of failure gets."""
        return self.max_rate_limited_retries if is_rate_limited(error) else self.max_retries


def retry_after_seconds(error: HttpFailure) -> float | None:
    raw = error.header("Retry-After")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None  # an HTTP date: Stripe sends seconds, so fall back to backoff
    return seconds if seconds >= 0 else None


def is_rate_limited(error: HttpFailure) -> bool:
    return error.status == 429


def is_retryable(error: HttpFailure) -> bool:
    """Stripe's ``Stripe-Should-Retry`` first, then the status (429, 5xx), or no response at all."""
    should_retry = error.header("Stripe-Should-Retry")
    if should_retry == "false":
        return False
    if should_retry == "true":
        return True
    status = error.status
    return status is None or status == 429 or status >= 500


def retry_delay(error: HttpFailure, attempt: int, policy: RetryPolicy, rng: random.Random) -> float | None:
    """Seconds to wait before the next retry, or None to give up. ``attempt`` counts the retries
    already made for this kind of failure (429s and others are counted apart)."""
    if attempt >= policy.allowance(error) or not is_retryable(error):
        return None
    retry_after = retry_after_seconds(error)
    if retry_after is not None:
        return retry_after * (1 + rng.uniform(0, RETRY_AFTER_JITTER))
    step: float = min(policy.max_delay, policy.base_delay * 2.0**attempt)
    return step / 2 + rng.uniform(0, step / 2)
