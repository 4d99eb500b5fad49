"""Requests to Stripe, paced, bounded, retried and typed.

Every request goes through one ``StripeApiClient`` per read, so one token bucket and one
concurrency bound cover all streams and accounts. The HTTP itself is ``http.StripeHttp`` (aiohttp,
each body parsed once with orjson into plain dicts; see there why not through the SDK). Retries
happen here, where they can honour ``Retry-After`` on the injected clock, draw a new token each
time and be logged with ``Stripe-Rate-Limited-Reason`` and the request id. Nothing is logged per
successful request.

Cancellation stops in-flight requests: cancelling the task cancels the aiohttp request under it, and
``close`` shuts the connection pool.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sync_platform.engine.clock import Clock
from sync_platform.redaction import redact
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.errors import (
    StripeApiError,
    StripeAuthError,
    StripeUnavailableError,
    is_not_enabled_message,
)
from sync_platform.sources.stripe.http import HttpAnswer, HttpFailure, StripeHttp
from sync_platform.sources.stripe.rate_limit import RateLimiter
from sync_platform.sources.stripe.retry import RetryPolicy, is_rate_limited, retry_delay

logger = logging.getLogger(__name__)

ROUND_TRIP_SLACK = 1.25


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: its JSON body, when Stripe produced it, and its request id."""

    data: dict[str, Any]
    received_at: datetime
    request_id: str | None


class StripeApiClient:
    """GET/POST/DELETE against Stripe for one read: paced by ``limiter``, at most N in flight."""

    def __init__(
        self,
        config: StripeSourceConfig,
        *,
        clock: Clock,
        limiter: RateLimiter | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock
        self.limiter = limiter or RateLimiter(config.requests_per_second, clock)
        self.policy = RetryPolicy(max_retries=config.max_retries)
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._http = StripeHttp(
            api_key=config.api_key.get_secret_value(),
            base_url=config.base_url,
            api_version=config.api_version,
            timeout=config.request_timeout,
            max_connections=config.max_concurrency,
        )
        self.max_concurrency = config.max_concurrency
        self.attempts = 0  # requests sent, retries included
        self.latency: float | None = None  # moving average of a request's round trip, in seconds

    def __repr__(self) -> str:  # the HTTP client holds the key; keep it out of reprs
        return f"StripeApiClient(rate={self.limiter.rate:g}/s)"

    async def close(self) -> None:
        await self._http.close()

    async def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        account: str | None = None,
        urgent: bool = False,
    ) -> ApiResponse:
        return await self.request("get", path, params, account=account, urgent=urgent)

    async def post(
        self, path: str, params: Mapping[str, Any] | None = None, *, account: str | None = None
    ) -> ApiResponse:
        return await self.request("post", path, params, account=account)

    async def delete(self, path: str, *, account: str | None = None) -> ApiResponse:
        return await self.request("delete", path, None, account=account)

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        *,
        account: str | None,
        urgent: bool = False,
    ) -> ApiResponse:
        """One call, retried as ``retry.retry_delay`` decides; raises a typed ``StripeApiError``.

        ``urgent`` requests go ahead of others waiting for the rate limit (see ``rate_limit``).
        """
        retries = {True: 0, False: 0}  # made so far, for rate limiting (True) and other failures
        while True:
            async with self._slots:  # slot first, then token: a request leaves when it is paced
                await self.limiter.acquire(urgent=urgent)
                self.attempts += 1
                sent = self.clock.monotonic()
                answer = await self._http.send(method, path, params, account=account)
                if isinstance(answer, HttpAnswer):
                    self._observe(self.clock.monotonic() - sent)
                    return ApiResponse(answer.data, answer.received_at or self.clock.now(), answer.request_id)
                kind = is_rate_limited(answer)
                delay = retry_delay(answer, retries[kind], self.policy, self.rng)
                if delay is None:
                    raise _typed(answer, method, path, account, sum(retries.values()) + 1)
                _log_retry(answer, method, path, account, retries[kind], delay, self.policy.allowance(answer))
            await self.clock.sleep(delay)
            retries[kind] += 1

    def _observe(self, seconds: float) -> None:
        self.latency = seconds if self.latency is None else 0.8 * self.latency + 0.2 * seconds

    def useful_concurrency(self) -> int:
        """Requests in flight that keep the rate limit busy: rate x round trip, plus a quarter for
        the time a range's next page waits for its page to be emitted. More would only add
        ranges, each of which ends with a part-filled page."""
        if self.latency is None:
            return self.max_concurrency
        return max(
            1, min(self.max_concurrency, math.ceil(self.limiter.rate * self.latency * ROUND_TRIP_SLACK))
        )


def _typed(
    failure: HttpFailure, method: str, path: str, account: str | None, attempts: int
) -> StripeApiError:
    message = redact(failure.message)
    details: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": failure.status,
        "code": failure.code,
        "request_id": failure.request_id,
        "account": account,
        "attempts": attempts,
        "error_type": failure.error_type,
        "param": failure.param,
    }
    if failure.status == 401 or failure.error_type == "authentication_error":
        return StripeAuthError(message, **details)
    if failure.status == 403 or is_not_enabled_message(message):
        return StripeUnavailableError(message, **details)
    return StripeApiError(message, **details)


def _log_retry(
    failure: HttpFailure,
    method: str,
    path: str,
    account: str | None,
    attempt: int,
    delay: float,
    max_retries: int,
) -> None:
    status = failure.status
    reason = failure.header("Stripe-Rate-Limited-Reason")
    cause = f"HTTP {status}" if status is not None else failure.message
    if reason:
        cause += f", rate limited: {reason}"
    if failure.request_id:
        cause += f", request {failure.request_id}"
    logger.warning(
        "Retrying Stripe %s %s%s (%s) in %.2f s, retry %d of %d",
        method.upper(),
        path,
        f" for {account}" if account else "",
        cause,
        delay,
        attempt + 1,
        max_retries,
        extra={
            "path": path,
            "account": account,
            "status": status,
            "rate_limited_reason": reason,
            "request_id": failure.request_id,
            "attempt": attempt + 1,
        },
    )
