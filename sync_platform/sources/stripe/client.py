"""Requests to Stripe through the real ``stripe`` SDK, paced, bounded, retried and typed.

Every request goes through one ``StripeApiClient`` per read, so one token bucket and one
concurrency bound cover all streams and accounts. The SDK does the HTTP (its async httpx client,
auth, ``Stripe-Version``, ``Stripe-Account``, form encoding and error parsing) with its own
retries turned off: retries happen here, where they can honour ``Retry-After`` on the injected
clock, draw a new token each time and be logged with ``Stripe-Rate-Limited-Reason`` and the
request id.

Responses are never turned into ``StripeObject``s (that costs ~25 ms per page of 100 and would cap
a backfill near 40 pages/s); the body is parsed with orjson into plain dicts, because the SDK's own
``StripeResponse.data`` is built of OrderedDicts, which destinations' fast type checks reject.

Cancellation stops in-flight requests: cancelling the task cancels the httpx call under it, and
``close`` shuts the connection pool.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import stripe

from sync_platform.engine.clock import Clock
from sync_platform.redaction import RedactingFilter, redact
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.errors import (
    StripeApiError,
    StripeAuthError,
    StripeUnavailableError,
    is_not_enabled_message,
)
from sync_platform.sources.stripe.rate_limit import RateLimiter
from sync_platform.sources.stripe.retry import RetryPolicy, header, is_rate_limited, retry_delay

logger = logging.getLogger(__name__)

ROUND_TRIP_SLACK = 1.25


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer: its JSON body, when Stripe produced it, and its request id."""

    data: dict[str, Any]
    received_at: datetime
    request_id: str | None


def _guard_sdk_logs() -> None:
    """Mask keys and webhook secrets in the SDK's own log records (it logs bodies at DEBUG)."""
    sdk_logger = logging.getLogger("stripe")
    if not any(isinstance(f, RedactingFilter) for f in sdk_logger.filters):
        sdk_logger.addFilter(RedactingFilter())


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
        _guard_sdk_logs()
        self.clock = clock
        self.limiter = limiter or RateLimiter(config.requests_per_second, clock)
        self.policy = RetryPolicy(max_retries=config.max_retries)
        self.rng = rng or random.Random()
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self._http = stripe.HTTPXClient(timeout=config.request_timeout)
        self._sdk = stripe.StripeClient(
            config.api_key.get_secret_value(),
            base_addresses={"api": config.base_url.rstrip("/")},
            stripe_version=config.api_version,
            max_network_retries=0,
            http_client=self._http,
        )
        self.max_concurrency = config.max_concurrency
        self.attempts = 0  # requests sent, retries included
        self.latency: float | None = None  # moving average of a request's round trip, in seconds

    def __repr__(self) -> str:  # the SDK client holds the key; keep it out of reprs
        return f"StripeApiClient(rate={self.limiter.rate:g}/s)"

    async def close(self) -> None:
        await self._http.close_async()  # type: ignore[no-untyped-call]  # unannotated in the SDK

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
        arguments: dict[str, Any] = dict(params or {})
        if account is not None:
            arguments["stripe_account"] = account
        retries = {True: 0, False: 0}  # made so far, for rate limiting (True) and other failures
        while True:
            async with self._slots:  # slot first, then token: a request leaves when it is paced
                await self.limiter.acquire(urgent=urgent)
                self.attempts += 1
                sent = self.clock.monotonic()
                try:
                    response = await self._sdk.raw_request_async(method, path, **arguments)
                except stripe.StripeError as error:
                    kind = is_rate_limited(error)
                    delay = retry_delay(error, retries[kind], self.policy, self.rng)
                    attempts = sum(retries.values()) + 1
                    if delay is None:
                        raise _typed(error, method, path, account, attempts) from None
                    _log_retry(
                        error, method, path, account, retries[kind], delay, self.policy.allowance(error)
                    )
                else:
                    self._observe(self.clock.monotonic() - sent)
                    return self._answer(response, method, path)
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

    def _answer(self, response: Any, method: str, path: str) -> ApiResponse:
        # The SDK's ``response.data`` is built of OrderedDicts; records must be plain JSON values
        # (destinations type-check them on their fast paths), so the body is parsed again, with orjson.
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise StripeApiError("the response body is not JSON", method=method, path=path) from None
        if not isinstance(data, dict):
            raise StripeApiError("the response body is not a JSON object", method=method, path=path)
        return ApiResponse(
            data=data,
            received_at=_date(header(response.headers, "Date")) or self.clock.now(),
            request_id=header(response.headers, "Request-Id"),
        )


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _stripe_message(error: stripe.StripeError) -> str:
    message = error.user_message if isinstance(error.user_message, str) else None
    return redact(message or str(error) or type(error).__name__)


def _error_type(error: stripe.StripeError) -> str | None:
    """Stripe's ``error.type`` (``invalid_request_error``, ``api_error``...), when the body had one."""
    if isinstance(error, stripe.APIConnectionError):
        return None
    body = getattr(error, "error", None)
    error_type = getattr(body, "type", None)
    return error_type if isinstance(error_type, str) else None


def _param(error: stripe.StripeError) -> str | None:
    """The parameter a 400 is about (``InvalidRequestError.param``), when Stripe named one."""
    param = getattr(error, "param", None)
    return param if isinstance(param, str) and param else None


def _typed(
    error: stripe.StripeError, method: str, path: str, account: str | None, attempts: int
) -> StripeApiError:
    message = _stripe_message(error)
    details: dict[str, Any] = {
        "method": method,
        "path": path,
        "status": error.http_status,
        "code": error.code,
        "request_id": header(error.headers, "Request-Id") or error.request_id,
        "account": account,
        "attempts": attempts,
        "error_type": _error_type(error),
        "param": _param(error),
    }
    if isinstance(error, stripe.AuthenticationError):
        return StripeAuthError(message, **details)
    if isinstance(error, stripe.PermissionError) or is_not_enabled_message(message):
        return StripeUnavailableError(message, **details)
    return StripeApiError(message, **details)


def _log_retry(
    error: stripe.StripeError,
    method: str,
    path: str,
    account: str | None,
    attempt: int,
    delay: float,
    max_retries: int,
) -> None:
    status = error.http_status
    reason = header(error.headers, "Stripe-Rate-Limited-Reason")
    request_id = header(error.headers, "Request-Id")
    cause = f"HTTP {status}" if status is not None else type(error).__name__
    if reason:
        cause += f", rate limited: {reason}"
    if request_id:
        cause += f", request {request_id}"
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
            "request_id": request_id,
            "attempt": attempt + 1,
        },
    )
