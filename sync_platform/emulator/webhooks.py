"""Signed webhook deliveries: queued per event and endpoint, sent by background workers, retried.

Deliveries run on the server's event loop, apart from the request that caused the event, as
Stripe's do. A delivery that gets a non-2xx answer or no answer is retried after each delay of
the retry policy (Stripe spreads retries over three days; the emulator compresses that to
seconds). ``wait_for_deliveries`` blocks until every queued delivery has succeeded or used up
its attempts, so a test waits for an event, not for a guessed amount of time.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydantic import BaseModel, ConfigDict, Field

from sync_platform.engine.clock import Clock
from sync_platform.redaction import redact

logger = logging.getLogger(__name__)
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


class RetryPolicy(BaseModel):
    """How deliveries are retried: one attempt, then one more after each delay."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delays: tuple[float, ...] = Field(
        default=(0.05, 0.2, 0.5, 1.0, 2.0), description="Seconds between attempts."
    )
    timeout: float = Field(default=5.0, gt=0, description="Seconds to wait for the endpoint's answer.")
    workers: int = Field(default=4, ge=1, description="Deliveries in flight at once.")


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """``t=…,v1=…``: HMAC-SHA256 of ``"<t>.<payload>"`` with the endpoint's signing secret."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class DeliveryJob:
    event_id: str
    event_type: str
    account_id: str
    endpoint_id: str
    url: str
    secret: str
    payload: bytes

    def __repr__(self) -> str:  # the signing secret stays out of logs and test output
        return f"DeliveryJob(event_id={self.event_id!r}, endpoint_id={self.endpoint_id!r}, url={self.url!r})"


@dataclass(frozen=True)
class DeliveryAttempt:
    """One POST to an endpoint and how it went."""

    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    status: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class WebhookDispatcher:
    """Queues deliveries from any thread and sends them from workers on the server loop."""

    def __init__(
        self, clock: Clock, policy: RetryPolicy, on_delivered: Callable[[DeliveryJob], None]
    ) -> None:
        self._clock = clock
        self.policy = policy
        self._on_delivered = on_delivered
        self._condition = threading.Condition()
        self._outstanding = 0
        self._generation = 0  # bumped by `clear`, so jobs queued before a reset are dropped
        self._backlog: list[tuple[int, DeliveryJob]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[int, DeliveryJob]] | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self.attempts: list[DeliveryAttempt] = []

    async def start(self) -> None:
        """Start the workers on the running loop and send what was queued before."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._client = httpx.AsyncClient(follow_redirects=False, trust_env=False)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.policy.workers)]
        with self._condition:
            backlog, self._backlog = self._backlog, []
        for item in backlog:
            self._queue.put_nowait(item)

    async def stop(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
        self._loop = self._queue = self._client = None
        with self._condition:
            self._outstanding = 0
            self._condition.notify_all()

    def submit(self, job: DeliveryJob) -> None:
        """Queue one delivery; safe to call from any thread."""
        with self._condition:
            self._outstanding += 1
            item = (self._generation, job)
            loop, queue = self._loop, self._queue
            if loop is None or queue is None:
                self._backlog.append(item)
                return
        loop.call_soon_threadsafe(queue.put_nowait, item)

    def clear(self) -> None:
        """Forget every queued delivery and past attempt (``reset``)."""
        with self._condition:
            self._generation += 1
            self._backlog = []
            self._outstanding = 0
            self.attempts = []
            self._condition.notify_all()

    def wait(self, timeout: float) -> bool:
        """Block until no delivery is queued or in flight; False if ``timeout`` seconds passed first."""
        with self._condition:
            return self._condition.wait_for(lambda: self._outstanding == 0, timeout)

    async def _work(self) -> None:
        assert self._queue is not None  # set by start(), before any worker runs
        while True:
            generation, job = await self._queue.get()
            try:
                await self._deliver(job, generation)
            finally:
                with self._condition:
                    if generation == self._generation:
                        self._outstanding -= 1
                    self._condition.notify_all()

    async def _deliver(self, job: DeliveryJob, generation: int) -> None:
        assert self._client is not None  # set by start()
        attempts = len(self.policy.delays) + 1
        for attempt in range(1, attempts + 1):
            if generation != self._generation:
                return
            status, error = await self._post(job)
            record = DeliveryAttempt(
                job.event_id, job.event_type, job.endpoint_id, job.url, attempt, status, error
            )
            with self._condition:
                if generation == self._generation:
                    self.attempts.append(record)
            if record.succeeded:
                self._on_delivered(job)
                return
            logger.info(
                "webhook delivery failed",
                extra={
                    "event_id": job.event_id,
                    "endpoint": job.endpoint_id,
                    "attempt": attempt,
                    "status": status,
                },
            )
            if attempt < attempts:
                await self._clock.sleep(self.policy.delays[attempt - 1])

    async def _post(self, job: DeliveryJob) -> tuple[int | None, str | None]:
        assert self._client is not None  # set by start()
        # Signatures carry wall-clock time: receivers compare it with their own clock (5-minute tolerance).
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature_header(job.payload, job.secret, int(time.time())),
            "User-Agent": USER_AGENT,
        }
        try:
            response = await self._client.post(
                job.url, content=job.payload, headers=headers, timeout=self.policy.timeout
            )
        except httpx.HTTPError as error:
            return None, redact(f"{type(error).__name__}: {error}")
        return response.status_code, None
