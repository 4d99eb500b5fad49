"""Whether and when to retry a failed Stripe request: a pure decision from the SDK's error.

Stripe's own advice decides first: ``Stripe-Should-Retry: false`` means never, ``true`` means
retry even a status we would not (a 409 lock timeout). Otherwise 429 and 5xx are retried, and so
are network failures the SDK marks retryable (timeouts, resets); 4xx are answers, not accidents.

A 429 is Stripe asking the client to slow down, not a failure, so it has its own, larger retry
allowance: a burst of rate limiting (other API users of the account, a shared limit) should
delay a backfill, not fail its streams. The wait honours ``Retry-After`` when Stripe sends one
(plus up to 20 % jitter, so a crowd of rate-limited requests does not come back in the same
instant); without one it is exponential backoff with equal jitter (half the step fixed, half
random), capped, so retries spread out without ever retrying immediately.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

import stripe

RETRY_AFTER_JITTER = 0.2


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6  # for 5xx and network failures
    max_rate_limited_retries: int = 20  # for 429s
    base_delay: float = 0.5  # seconds before the first retry (before jitter)
    max_delay: float = 30.0  # cap of one backoff step

    def allowance(self, error: stripe.StripeError) -> int:
        """How many retries this kind of failure gets."""
        return self.max_rate_limited_retries if is_rate_limited(error) else self.max_retries


def header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A response header, case-insensitively (the SDK hands over httpx headers or a plain dict)."""
    if not headers:
        return None
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    raw = header(headers, "Retry-After")
    if raw is None:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        return None  # an HTTP date: Stripe sends seconds, so fall back to backoff
    return seconds if seconds >= 0 else None


def is_rate_limited(error: stripe.StripeError) -> bool:
    return error.http_status == 429


def is_retryable(error: stripe.StripeError) -> bool:
    """Stripe's ``Stripe-Should-Retry`` first, then the status (429, 5xx) or the network failure."""
    should_retry = header(error.headers, "Stripe-Should-Retry")
    if should_retry == "false":
        return False
    if should_retry == "true":
        return True
    if isinstance(error, stripe.APIConnectionError):
        return bool(getattr(error, "should_retry", True))
    status = error.http_status
    return status is not None and (status == 429 or status >= 500)


def retry_delay(
    error: stripe.StripeError, attempt: int, policy: RetryPolicy, rng: random.Random
) -> float | None:
    """Seconds to wait before the next retry, or None to give up. ``attempt`` counts the retries
    already made for this kind of failure (429s and others are counted apart)."""
    if attempt >= policy.allowance(error) or not is_retryable(error):
        return None
    retry_after = retry_after_seconds(error.headers)
    if retry_after is not None:
        return retry_after * (1 + rng.uniform(0, RETRY_AFTER_JITTER))
    step: float = min(policy.max_delay, policy.base_delay * 2.0**attempt)
    return step / 2 + rng.uniform(0, step / 2)
