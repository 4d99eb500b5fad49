"""A real receiver on 127.0.0.1 over the test's pipeline store, and Stripe-signed webhooks to post.

Webhooks are signed with ``stripe.WebhookSignature.generate_signature_header``, exactly what the
Stripe emulator does when it delivers events, so the receiver sees what Stripe would send.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import stripe

from sync_platform.pipelines import PipelineCreate, PipelineStore
from sync_platform.webhooks import ReceiverSettings, TargetCache, WebhookServer, bind_socket, create_app
from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET


def stripe_event(event_id: str, event_type: str = "customer.updated", **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "data": {"object": {"id": f"cus_{event_id}", "object": "customer", "name": "Ada"}},
        **extra,
    }


def signed(event: dict[str, Any], secret: str = WEBHOOK_SECRET, *, age_seconds: int = 0) -> tuple[bytes, str]:
    """The body and ``Stripe-Signature`` header Stripe would send for ``event``."""
    body = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        body, secret, timestamp=int(time.time()) - age_seconds
    )
    return body.encode(), header


def create_pipeline(store: PipelineStore, pipeline_id: str, **source: Any) -> None:
    """A pipeline whose source holds a webhook secret (plaintext here, encrypted by the store)."""
    config = {"api_key": {"env": "STRIPE_API_KEY"}, **source}
    store.create(
        PipelineCreate.model_validate(
            {
                "id": pipeline_id,
                "source": {"type": "secretive", "secretive": config},
                "destination": {"type": "null"},
            }
        )
    )


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


@pytest.fixture
def receiver(pipeline_store: PipelineStore, receiver_settings: ReceiverSettings) -> Iterator[Receiver]:
    app = create_app(pipeline_store, settings=receiver_settings)
    server = WebhookServer(app, sock=bind_socket("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield Receiver(server.url, pipeline_store, client, app.state.target_cache)
    finally:
        server.stop()
        thread.join(timeout=15)
        assert not thread.is_alive(), "the receiver did not shut down"
