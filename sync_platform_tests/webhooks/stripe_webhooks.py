"""Stripe-signed webhooks for tests, and pipelines that accept them.

Webhooks are signed with ``stripe.WebhookSignature.generate_signature_header``, exactly what the
Stripe emulator does when it delivers events, so the receiver sees what Stripe would send.
"""

from __future__ import annotations

import json
import time
from typing import Any

import stripe

from sync_platform.pipelines import PipelineCreate, PipelineStore
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
