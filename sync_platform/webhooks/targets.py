"""A short-lived cache of what the receiver knows about each pipeline, so a burst reads it once.

Every webhook needs its pipeline's intake lane and decrypted signing secret(s). Reading the row and
decrypting per request would put a database round trip and a Fernet decryption in front of every
event; Stripe delivers in bursts (a bulk update fires hundreds of events for one pipeline), so the
receiver keeps each answer for ``ttl_seconds`` (default 1 s, ``--target-ttl``). That bound is the
longest a pause or delete takes to show at the receiver: a paused pipeline keeps storing events
anyway, and a deleted one may store events for up to one TTL more, which the inbox sensor never
applies (no ``webhook_apply`` lane) and a purge removes.

Concurrent misses for the same pipeline share one load (single flight), and unknown ids are cached
too (as ``None``) so a flood of requests for a made-up id costs one read per TTL. Failures are not
cached: the next request tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sync_platform.pipelines import WebhookTarget

DEFAULT_TTL_SECONDS = 1.0
DEFAULT_MAX_ENTRIES = 10_000

TargetLoader = Callable[[str], Awaitable[WebhookTarget | None]]


@dataclass(frozen=True)
class _Entry:
    target: WebhookTarget | None
    expires_at: float


class TargetCache:
    """``pipeline_id -> WebhookTarget | None``, each answer kept ``ttl_seconds`` (0 disables caching).

    Lives on one event loop (the receiver's); ``load`` does the blocking read off the loop.
    ``monotonic`` is injectable so tests can move time without sleeping.
    """

    def __init__(
        self,
        load: TargetLoader,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds < 0:
            raise ValueError("ttl_seconds must be >= 0")
        self._load = load
        self.ttl_seconds = ttl_seconds
        self._max_entries = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, _Entry] = {}
        self._loading: dict[str, asyncio.Future[WebhookTarget | None]] = {}
        self.loads = 0
        """How many reads reached ``load`` (for tests and the health endpoint)."""

    async def get(self, pipeline_id: str) -> WebhookTarget | None:
        entry = self._entries.get(pipeline_id)
        if entry is not None and entry.expires_at > self._monotonic():
            return entry.target
        in_flight = self._loading.get(pipeline_id)
        if in_flight is not None:
            return await asyncio.shield(in_flight)
        future: asyncio.Future[WebhookTarget | None] = asyncio.get_running_loop().create_future()
        self._loading[pipeline_id] = future
        try:
            self.loads += 1
            target = await self._load(pipeline_id)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # mark retrieved: waiters re-raise it, nobody else must log it
            raise
        else:
            future.set_result(target)
            self._remember(pipeline_id, target)
            return target
        finally:
            del self._loading[pipeline_id]

    def invalidate(self, pipeline_id: str) -> None:
        """Forget one pipeline (after the store said it no longer exists)."""
        self._entries.pop(pipeline_id, None)

    def _remember(self, pipeline_id: str, target: WebhookTarget | None) -> None:
        if self.ttl_seconds == 0:
            return
        now = self._monotonic()
        if len(self._entries) >= self._max_entries:
            self._entries = {key: e for key, e in self._entries.items() if e.expires_at > now}
            while len(self._entries) >= self._max_entries:  # still full: drop the oldest insertions
                del self._entries[next(iter(self._entries))]
        self._entries[pipeline_id] = _Entry(target, now + self.ttl_seconds)
