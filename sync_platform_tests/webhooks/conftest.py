"""A real receiver on 127.0.0.1 over the test's pipeline store, with an HTTP client aimed at it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from sync_platform.pipelines import PipelineStore
from sync_platform.webhooks import ReceiverSettings, TargetCache, WebhookServer, bind_socket, create_app
from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET
from sync_platform_tests.webhooks.stripe_webhooks import signed


@dataclass
class Receiver:
    """A receiver serving on 127.0.0.1, with an HTTP client aimed at it."""

    url: str
    store: PipelineStore
    client: httpx.Client
    targets: TargetCache

    def post(
        self, pipeline_id: str, body: bytes, signature: str | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
        if signature is not None:
            headers["Stripe-Signature"] = signature
        return self.client.post(f"/webhooks/{pipeline_id}", content=body, headers=headers, **kwargs)

    def deliver(
        self, pipeline_id: str, event: dict[str, Any], secret: str = WEBHOOK_SECRET
    ) -> httpx.Response:
        body, signature = signed(event, secret)
        return self.post(pipeline_id, body, signature)


@pytest.fixture
def receiver_settings() -> ReceiverSettings:
    """No target caching, so a pause or delete made by a test shows on the next request."""
    return ReceiverSettings(target_ttl_seconds=0)


@contextmanager
def serve_receiver(app: Starlette, store: PipelineStore) -> Iterator[Receiver]:
    """Serve ``app`` (a receiver over ``store``) on a free 127.0.0.1 port until the block ends."""
    server = WebhookServer(app, sock=bind_socket("127.0.0.1", 0))
    with (
        server.in_background("webhook-receiver") as url,  # raises if the receiver does not shut down
        httpx.Client(base_url=url, timeout=10) as client,
    ):
        yield Receiver(url, store, client, app.state.target_cache)


@pytest.fixture
def receiver(pipeline_store: PipelineStore, receiver_settings: ReceiverSettings) -> Iterator[Receiver]:
    with serve_receiver(create_app(pipeline_store, settings=receiver_settings), pipeline_store) as served:
        yield served
