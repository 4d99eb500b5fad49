"""``POST /webhooks/{id}`` inside the service: the receiver, untouched, with no token needed."""

from __future__ import annotations

from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET
from sync_platform_tests.service.conftest import NULL_DESTINATION, RunningService, assert_no_secret
from sync_platform_tests.webhooks.stripe_webhooks import signed


def test_a_signed_delivery_is_stored_in_the_pipelines_inbox(service: RunningService) -> None:
    source = {
        "type": "secretive",
        "secretive": {"api_key": {"env": "STRIPE_API_KEY"}, "webhook_secret": WEBHOOK_SECRET},
    }
    assert service.admin.post(
        "/pipelines", json={"id": "shop", "source": source, "destination": NULL_DESTINATION}
    )
    event = {"id": "evt_1", "object": "event", "type": "customer.updated", "created": 1,
             "data": {"object": {"id": "cus_1", "object": "customer"}}}  # fmt: skip
    body, signature = signed(event, WEBHOOK_SECRET)
    stripe = service.client()  # Stripe has no token: the signature is the authentication

    first = stripe.post("/webhooks/shop", content=body, headers={"Stripe-Signature": signature})
    again = stripe.post("/webhooks/shop", content=body, headers={"Stripe-Signature": signature})
    forged = stripe.post("/webhooks/shop", content=body, headers={"Stripe-Signature": "t=1,v1=00"})

    assert first.json() == {"received": True, "duplicate": False}
    assert again.json() == {"received": True, "duplicate": True}
    assert forged.status_code == 400
    assert service.store.count_pending_inbox("shop") == 1
    assert service.admin.get("/pipelines/shop").json()["pending_webhook_events"] == 1
    assert service.client().get("/health").json()["webhooks"]["accepted"] == 1
    assert_no_secret(service.transcript, (service.admin_token,))
