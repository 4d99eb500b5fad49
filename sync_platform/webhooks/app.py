"""The webhook receiver as a Starlette app: verify the signature, store the event, answer at once.

``POST /webhooks/{pipeline_id}`` does three things and nothing else, so it answers in milliseconds
and never loses an event it acknowledged:

1. find the pipeline's intake lane and signing secret(s) (``TargetCache``: one indexed read per
   pipeline per TTL, off the event loop);
2. verify the ``Stripe-Signature`` with the source's verifier (the stripe SDK's HMAC check);
3. ``INSERT … ON CONFLICT DO NOTHING`` into the inbox, committed before the 200 is sent.

No Dagster call and no sync happen here: the inbox sensor turns stored events into runs. Answers:
200 ``{"received": true, "duplicate": bool}`` (a redelivered event id is a no-op); 400 with a
``reason`` for a forged, stale, unsigned or malformed request, or one nested absurdly deep (nothing
stored); 404 for an unknown or deleted pipeline; 413 for a body over the limit; 503 only when the
database or the pipeline's secret cannot be reached (Stripe retries any non-2xx, so nothing is
lost). A signed event whose content PostgreSQL cannot hold as it is (a NUL, a lone surrogate, a
NaN) is stored repaired, the original kept beside it (``pipelines.inbox``): answering 503 would
make Stripe retry for days something that can never succeed. A paused pipeline still stores
events; they are applied on resume. Logs never quote a payload.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import anyio
import anyio.to_thread
import psycopg
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sync_platform.pipelines import (
    PIPELINE_ID_PATTERN,
    DesiredStatus,
    PipelineNotFoundError,
    PipelineStore,
    SecretError,
    StoreUnavailableError,
    WebhookTarget,
)
from sync_platform.sources.stripe.webhook_signature import (
    VerifiedEvent,
    WebhookVerificationError,
    verify_webhook,
)
from sync_platform.webhooks.body import MAX_BODY_BYTES, BodyTooLargeError, read_limited_body
from sync_platform.webhooks.targets import DEFAULT_TTL_SECONDS, TargetCache

logger = logging.getLogger(__name__)

T = TypeVar("T")

SIGNATURE_HEADER = "stripe-signature"
_PIPELINE_ID = re.compile(PIPELINE_ID_PATTERN)


class WebhookVerifier(Protocol):
    """Checks a request against the pipeline's secrets; raises ``WebhookVerificationError`` if not genuine."""

    def __call__(
        self, body: bytes, signature_header: str | None, secrets: Sequence[SecretStr]
    ) -> VerifiedEvent: ...


class Outcome(StrEnum):
    """What became of one request; the ``outcome`` field of its log line."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    NOT_FOUND = "not_found"
    TOO_LARGE = "too_large"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True)
class ReceiverSettings:
    """Tunables of one receiver; the defaults are what ``sync-platform serve-webhooks`` uses."""

    max_body_bytes: int = MAX_BODY_BYTES
    target_ttl_seconds: float = DEFAULT_TTL_SECONDS
    database_concurrency: int = 8
    """Blocking database calls in flight at once; match the store's connection pool size."""


@dataclass
class IntakeCounts:
    """Requests per outcome since the receiver started (shown by ``GET /healthz``)."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    not_found: int = 0
    too_large: int = 0
    unavailable: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)


class _Receiver:
    """The request handlers and what they share: the store, the target cache and the counters."""

    def __init__(self, store: PipelineStore, verifier: WebhookVerifier, settings: ReceiverSettings) -> None:
        self.store = store
        self.verifier = verifier
        self.settings = settings
        self.counts = IntakeCounts()
        self.targets = TargetCache(self._load_target, ttl_seconds=settings.target_ttl_seconds)
        self._limiter: anyio.CapacityLimiter | None = None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._limiter = anyio.CapacityLimiter(self.settings.database_concurrency)
        logger.info("webhook receiver ready", extra={"target_ttl_seconds": self.settings.target_ttl_seconds})
        yield
        logger.info("webhook receiver stopped", extra={"counts": asdict(self.counts)})

    async def _blocking(self, function: Callable[..., T], *args: Any) -> T:
        """Run a blocking store call on a worker thread, at most ``database_concurrency`` at once."""
        if self._limiter is None:  # used without its lifespan (a bare ASGI mount)
            self._limiter = anyio.CapacityLimiter(self.settings.database_concurrency)
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)

    async def _load_target(self, pipeline_id: str) -> WebhookTarget | None:
        return await self._blocking(self.store.webhook_target, pipeline_id)

    # --- routes ---------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "counts": asdict(self.counts)})

    async def receive(self, request: Request) -> JSONResponse:
        started = time.perf_counter()
        pipeline_id: str = request.path_params["pipeline_id"]
        fields: dict[str, Any] = {"pipeline_id": pipeline_id}
        outcome, status, body = await self._handle(request, pipeline_id, fields)
        self.counts.count(outcome)
        fields.update(outcome=outcome.value, status=status)
        fields["duration_ms"] = round((time.perf_counter() - started) * 1000, 2)
        if outcome is Outcome.UNAVAILABLE:
            logger.warning("webhook not stored: %s", fields["error"], extra=fields)
        else:
            logger.info("webhook %s", outcome.value, extra=fields)
        return JSONResponse(body, status_code=status)

    async def _handle(
        self, request: Request, pipeline_id: str, fields: dict[str, Any]
    ) -> tuple[Outcome, int, dict[str, Any]]:
        if not _PIPELINE_ID.match(pipeline_id):
            return _not_found(pipeline_id, "unknown_pipeline")
        try:
            body = await read_limited_body(request, self.settings.max_body_bytes)
            target = await self.targets.get(pipeline_id)
        except BodyTooLargeError as error:
            return Outcome.TOO_LARGE, 413, {"error": str(error), "reason": "too_large"}
        except (SecretError, StoreUnavailableError, psycopg.Error) as error:
            return _unavailable(error, fields)
        if target is None:
            return _not_found(pipeline_id, "unknown_pipeline")
        if target.desired_status is DesiredStatus.DELETED:
            return _not_found(pipeline_id, "deleted")
        try:
            event = self.verifier(body, request.headers.get(SIGNATURE_HEADER), target.secrets)
        except WebhookVerificationError as error:
            fields["reason"] = error.reason.value
            return Outcome.REJECTED, 400, {"error": str(error), "reason": error.reason.value}
        fields.update(event_id=event.id, event_type=event.type)
        try:
            stored = await self._blocking(
                self.store.insert_inbox_event, pipeline_id, event.id, event.type, event.payload
            )
        except PipelineNotFoundError:  # purged since its target was cached
            self.targets.invalidate(pipeline_id)
            return _not_found(pipeline_id, "unknown_pipeline")
        except (psycopg.DataError, psycopg.IntegrityError) as error:
            # What the event holds, not the database's state: retrying can never store it.
            fields.update(reason="unstorable", error=type(error).__name__)
            message = "The event cannot be stored (its content is refused by the database); not retried."
            return Outcome.REJECTED, 400, {"error": message, "reason": "unstorable"}
        except (StoreUnavailableError, psycopg.Error) as error:
            return _unavailable(error, fields)
        if stored:
            return Outcome.ACCEPTED, 200, {"received": True, "duplicate": False}
        return Outcome.DUPLICATE, 200, {"received": True, "duplicate": True}


def _not_found(pipeline_id: str, reason: str) -> tuple[Outcome, int, dict[str, Any]]:
    detail = " (it is deleted)" if reason == "deleted" else ""
    return (
        Outcome.NOT_FOUND,
        404,
        {"error": f"No pipeline {pipeline_id!r} takes webhooks here{detail}.", "reason": reason},
    )


def _unavailable(error: Exception, fields: dict[str, Any]) -> tuple[Outcome, int, dict[str, Any]]:
    """A problem on our side: 503 so Stripe retries later; the log (not the client) gets the cause."""
    reason = "secret_unavailable" if isinstance(error, SecretError) else "store_unavailable"
    fields.update(reason=reason, error=f"{type(error).__name__}: {error}")
    return (
        Outcome.UNAVAILABLE,
        503,
        {"error": "The receiver cannot store this event right now; retry later.", "reason": reason},
    )


def create_app(
    store: PipelineStore,
    *,
    verifier: WebhookVerifier = verify_webhook,
    settings: ReceiverSettings | None = None,
) -> Starlette:
    """The receiver app over ``store``; the caller owns (and closes) the store.

    ``verifier`` is the source's signature check: Stripe's, the only source that pushes events.
    """
    receiver = _Receiver(store, verifier, settings or ReceiverSettings())
    app = Starlette(
        routes=[
            Route("/webhooks/{pipeline_id}", receiver.receive, methods=["POST"]),
            Route("/healthz", receiver.healthz, methods=["GET"]),
        ],
        lifespan=receiver.lifespan,
    )
    app.state.receiver_counts = receiver.counts
    app.state.target_cache = receiver.targets
    return app
