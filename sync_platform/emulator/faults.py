"""Failures on demand: latency, a per-key rate limit, random 5xx, scripted failures, and the
list filters some Stripe-compatible servers refuse (``created``, ``types[]``).

Each API request asks the injector what to do before it is handled. The configuration can be
replaced at any time (from Python or ``POST /_emulator/faults``); replacing it resets the
counters of scripted failures and refills the rate-limit buckets, so a test states the faults it
wants and gets exactly those from its next request on.
"""

from __future__ import annotations

import fnmatch
import math
import random
import threading
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sync_platform.emulator.errors import ApiError
from sync_platform.engine.clock import Clock

RATE_LIMIT_MESSAGE = "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits."


class ScriptedFailure(BaseModel):
    """Fail the ``nth`` request (1-based) to ``path`` (and ``times - 1`` more) with ``status``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str = Field(description="Exact path, or a glob such as /v1/invoices/*/lines.")
    nth: int = Field(default=1, ge=1)
    status: int = Field(default=500, ge=400, le=599)
    method: str = Field(default="GET", description="HTTP method, or * for any.")
    times: int = Field(default=1, ge=1)
    message: str | None = None
    code: str | None = None
    retry_after: float | None = Field(default=None, ge=0, description="Seconds, sent as Retry-After.")
    should_retry: bool | None = Field(default=None, description="Sent as Stripe-Should-Retry when set.")

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and fnmatch.fnmatchcase(path, self.path)


class FaultConfig(BaseModel):
    """The faults in force. The default injects nothing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(default=0.0, ge=0, description="Added to every API request.")
    latency_jitter_ms: float = Field(default=0.0, ge=0, description="Plus a uniform random extra up to this.")
    rate_limit_per_second: float | None = Field(default=None, gt=0, description="Token refill rate per key.")
    rate_limit_burst: int | None = Field(default=None, ge=1, description="Bucket size (default: the rate).")
    rate_limited_reason: str = Field(default="global-rate", description="Sent as Stripe-Rate-Limited-Reason.")
    error_ratio: float = Field(
        default=0.0, ge=0, le=1, description="Share of requests answered with `error_status`."
    )
    error_status: int = Field(
        default=500, ge=429, le=599, description="A 5xx, or 429 for a storm of rate-limit answers."
    )
    scripted: tuple[ScriptedFailure, ...] = ()
    seed: int = Field(default=0, description="Seeds the random latency and error draws.")
    refuse_created_filter: bool = Field(
        default=False,
        description=(
            "Answer an object list that filters by `created` with Stripe's 400 `Received unknown "
            "parameter: created`, as some Stripe-compatible servers do (`/v1/events` keeps its filter)."
        ),
    )
    refuse_event_types_filter: bool = Field(
        default=False,
        description="Answer `/v1/events` with `types[]` by Stripe's 400 `Received unknown parameter: types`.",
    )

    @field_validator("error_status")
    @classmethod
    def _server_error_or_rate_limit(cls, status: int) -> int:
        if status != 429 and status < 500:
            raise ValueError(f"error_status must be 429 or a 5xx, got {status}")
        return status


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one request: wait ``delay`` seconds, then fail with ``error`` or serve it."""

    delay: float
    error: ApiError | None


class _TokenBucket:
    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.capacity, self.tokens, self.updated = rate, burst, burst, now

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class FaultInjector:
    """Decides, per request, the delay and the failure (if any) that the configuration asks for."""

    def __init__(self, clock: Clock, config: FaultConfig | None = None) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(config or FaultConfig())

    @property
    def config(self) -> FaultConfig:
        return self._config

    def configure(self, config: FaultConfig) -> None:
        """Replace every fault setting; counters and buckets start afresh."""
        with self._lock:
            self._config = config
            self._rng = random.Random(config.seed)
            self._counts = [0] * len(config.scripted)
            self._buckets: dict[str, _TokenBucket] = {}

    def decide(self, method: str, path: str, key: str) -> FaultDecision:
        with self._lock:
            config = self._config
            delay = (config.latency_ms + self._rng.uniform(0, config.latency_jitter_ms)) / 1000
            error = self._rate_limit(config, key) or self._scripted(config, method, path)
            if error is None and config.error_ratio and self._rng.random() < config.error_ratio:
                error = self._random_error(config)
        return FaultDecision(delay=delay, error=error)

    @staticmethod
    def _random_error(config: FaultConfig) -> ApiError:
        if config.error_status == 429:
            return rate_limited(retry_after=1, reason=config.rate_limited_reason)
        return ApiError(config.error_status, "An unknown error occurred", error_type="api_error")

    def _rate_limit(self, config: FaultConfig, key: str) -> ApiError | None:
        if config.rate_limit_per_second is None:
            return None
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            burst = config.rate_limit_burst or max(1, math.ceil(config.rate_limit_per_second))
            bucket = self._buckets[key] = _TokenBucket(config.rate_limit_per_second, burst, now)
        wait = bucket.take(now)
        if wait == 0:
            return None
        return rate_limited(retry_after=wait, reason=config.rate_limited_reason)

    def _scripted(self, config: FaultConfig, method: str, path: str) -> ApiError | None:
        for position, failure in enumerate(config.scripted):
            if not failure.matches(method, path):
                continue
            self._counts[position] += 1
            count = self._counts[position]
            if failure.nth <= count < failure.nth + failure.times:
                return scripted_error(failure, count, method, path)
        return None


def rate_limited(*, retry_after: float, reason: str) -> ApiError:
    return ApiError(
        429,
        RATE_LIMIT_MESSAGE,
        code="rate_limit",
        headers={"Retry-After": str(max(1, math.ceil(retry_after))), "Stripe-Rate-Limited-Reason": reason},
    )


def scripted_error(failure: ScriptedFailure, count: int, method: str, path: str) -> ApiError:
    headers: dict[str, str] = {}
    if failure.retry_after is not None:
        headers["Retry-After"] = str(math.ceil(failure.retry_after))
    if failure.should_retry is not None:
        headers["Stripe-Should-Retry"] = "true" if failure.should_retry else "false"
    message = failure.message or f"Scripted failure {failure.status} for request {count} to {method} {path}."
    if failure.status == 429:
        headers.setdefault("Stripe-Rate-Limited-Reason", "global-rate")
        return ApiError(
            429, failure.message or RATE_LIMIT_MESSAGE, code=failure.code or "rate_limit", headers=headers
        )
    error_type = "api_error" if failure.status >= 500 else "invalid_request_error"
    if failure.status == 401:
        error_type = "authentication_error"
    return ApiError(failure.status, message, error_type=error_type, code=failure.code, headers=headers)
