"""Mutations record Stripe events and deliver them as signed webhooks that the SDK verifies."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import stripe

from sync_platform.emulator import EmulatorError, RetryPolicy, RunningEmulator
from sync_platform_tests.plugins.stripe_emulator import WebhookReceiver


def test_creating_an_object_lists_it_and_records_a_created_event(stripe_emulator: RunningEmulator) -> None:
    result = stripe_emulator.create("customer", {"email": "new@example.com", "name": "New Person"})
    client = stripe_emulator.client()
    assert client.v1.customers.retrieve(result.object["id"]).email == "new@example.com"
    assert client.v1.customers.list({"limit": 1}).data[0].id == result.object["id"]  # newest first
    event = client.v1.events.list({"limit": 1}).data[0]
    assert event.type == "customer.created"
    assert event.data.object.id == result.object["id"]
    assert event.id == result.event["id"]


def test_created_objects_refer_to_existing_objects(stripe_emulator: RunningEmulator) -> None:
    subscription = stripe_emulator.create("subscription").object
    assert stripe_emulator.retrieve("customer", subscription["customer"]) is not None


def test_an_update_sends_previous_attributes_and_keeps_created(stripe_emulator: RunningEmulator) -> None:
    customer = stripe_emulator.objects("customer")[-1]
    result = stripe_emulator.update(
        "customer", customer["id"], {"email": "changed@example.com", "metadata": {"k": "v"}}
    )
    assert result.event["type"] == "customer.updated"
    assert result.event["data"]["previous_attributes"]["email"] == customer["email"]
    assert result.object["created"] == customer["created"]
    assert result.object["metadata"] == {**customer["metadata"], "k": "v"}


def test_updating_an_object_with_updated_bumps_it(stripe_emulator: RunningEmulator) -> None:
    product = stripe_emulator.objects("product")[0]
    result = stripe_emulator.update("product", product["id"], {"name": "Renamed"})
    assert result.object["updated"] >= stripe_emulator.now() - 5
    assert result.object["updated"] > product["updated"]


def test_deleting_leaves_a_tombstone_and_sends_a_deleted_event(stripe_emulator: RunningEmulator) -> None:
    customer = stripe_emulator.objects("customer")[0]
    result = stripe_emulator.delete("customer", customer["id"])
    client = stripe_emulator.client()
    tombstone = client.v1.customers.retrieve(customer["id"])
    assert tombstone.deleted is True
    assert customer["id"] not in {c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()}
    assert result.event["type"] == "customer.deleted"
    assert result.event["data"]["object"]["deleted"] is True
    assert result.event["data"]["object"]["email"] == customer["email"]


def test_deleting_a_subscription_cancels_it(stripe_emulator: RunningEmulator) -> None:
    subscription = next(s for s in stripe_emulator.objects("subscription") if s["status"] != "canceled")
    result = stripe_emulator.delete("subscription", subscription["id"])
    assert result.event["type"] == "customer.subscription.deleted"
    assert result.object["status"] == "canceled"
    retrieved = stripe_emulator.client().v1.subscriptions.retrieve(subscription["id"])
    assert retrieved.status == "canceled"


def test_objects_stripe_never_deletes_cannot_be_deleted(stripe_emulator: RunningEmulator) -> None:
    charge = stripe_emulator.objects("charge")[0]
    with pytest.raises(EmulatorError, match="no deletion of charge objects"):
        stripe_emulator.delete("charge", charge["id"])


def test_a_new_refund_appears_in_its_charges_embedded_refunds(stripe_emulator: RunningEmulator) -> None:
    charge = stripe_emulator.objects("charge")[0]
    before = stripe_emulator.client().v1.charges.retrieve(charge["id"])  # caches the charge's JSON
    refund = stripe_emulator.create("refund", {"charge": charge["id"], "amount": 1}).object
    after = stripe_emulator.client().v1.charges.retrieve(charge["id"])
    assert refund["id"] not in [r.id for r in before.refunds.data]
    assert after.refunds.data[0].id == refund["id"]


def test_events_can_be_filtered_by_type_types_and_created(stripe_emulator: RunningEmulator) -> None:
    customer = stripe_emulator.create("customer").object
    stripe_emulator.update("customer", customer["id"], {"name": "B"})
    price = stripe_emulator.create("price", {"unit_amount": 100}).object
    client = stripe_emulator.client()
    by_type = [e.type for e in client.v1.events.list({"type": "customer.updated"}).auto_paging_iter()]
    assert by_type == ["customer.updated"]
    wildcard = [e.type for e in client.v1.events.list({"type": "customer.*"}).auto_paging_iter()]
    assert wildcard == ["customer.updated", "customer.created"]
    several = [
        e.type
        for e in client.v1.events.list({"types": ["price.created", "customer.created"]}).auto_paging_iter()
    ]
    assert several == ["price.created", "customer.created"]
    created = stripe_emulator.events()[0]["created"]
    assert [
        e.data.object.id for e in client.v1.events.list({"created": {"gte": created}, "limit": 1}).data
    ] == [price["id"]]
    assert client.v1.events.list({"created": {"gt": created}}).data == []


def test_a_connected_accounts_events_carry_its_account(
    stripe_emulator_factory: Callable[..., RunningEmulator],
) -> None:
    emulator = stripe_emulator_factory(objects=30, connected_accounts=1, connected_objects=30)
    account = emulator.connected_account_ids[0]
    result = emulator.create("customer", account_id=account)
    assert result.event["account"] == account
    assert emulator.events() == []
    events = emulator.client().v1.events.list(options={"stripe_account": account}).data
    assert [e.id for e in events] == [result.event["id"]]


def test_webhooks_are_delivered_signed_and_verify_with_the_sdk(
    stripe_emulator: RunningEmulator, webhook_receiver: WebhookReceiver
) -> None:
    endpoint = stripe_emulator.client().v1.webhook_endpoints.create(
        {"url": webhook_receiver.url, "enabled_events": ["customer.created", "customer.updated"]}
    )
    assert endpoint.secret.startswith("whsec_")
    created = stripe_emulator.create("customer").event
    stripe_emulator.create("price")  # not subscribed
    stripe_emulator.wait_for_deliveries(timeout=30)
    assert len(webhook_receiver.received) == 1
    delivery = webhook_receiver.received[0]
    event = stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], endpoint.secret
    )
    assert event.id == created["id"]
    assert event.type == "customer.created"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, delivery.headers["Stripe-Signature"], "whsec_wrong")


def test_failed_deliveries_are_retried_until_they_succeed(
    stripe_emulator_factory: Callable[..., RunningEmulator], webhook_receiver: WebhookReceiver
) -> None:
    emulator = stripe_emulator_factory(objects=20, webhooks=RetryPolicy(delays=(0.01, 0.01, 0.01)))
    emulator.add_webhook_endpoint(webhook_receiver.url)
    webhook_receiver.statuses = [500, 503]
    event = emulator.create("customer").event
    emulator.wait_for_deliveries(timeout=30)
    assert [a.status for a in emulator.deliveries] == [500, 503, 200]
    assert len(webhook_receiver.received) == 3
    assert {json.loads(r.body)["id"] for r in webhook_receiver.received} == {event["id"]}
    stored = emulator.client().v1.events.retrieve(event["id"])
    assert stored.pending_webhooks == 0


def test_deliveries_to_an_unreachable_endpoint_give_up_after_the_last_retry(
    stripe_emulator_factory: Callable[..., RunningEmulator],
) -> None:
    emulator = stripe_emulator_factory(objects=20, webhooks=RetryPolicy(delays=(0.01,), timeout=2))
    emulator.add_webhook_endpoint("http://127.0.0.1:9/unreachable")
    emulator.create("customer")
    emulator.wait_for_deliveries(timeout=30)
    assert [a.attempt for a in emulator.deliveries] == [1, 2]
    assert all(a.status is None and a.error for a in emulator.deliveries)


def test_webhook_endpoints_list_without_secret_and_delete(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    created = client.v1.webhook_endpoints.create(
        {"url": "https://example.com/hook", "enabled_events": ["*"], "metadata": {"managed_by": "test"}}
    )
    listed = client.v1.webhook_endpoints.list().data
    assert [e.id for e in listed] == [created.id]
    assert "secret" not in listed[0]
    assert listed[0].metadata["managed_by"] == "test"
    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    assert client.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError, match="not a valid event type"):
        client.v1.webhook_endpoints.create({"url": "https://example.com", "enabled_events": ["nope.created"]})  # type: ignore[list-item]


def test_reset_restores_the_generated_data(stripe_emulator: RunningEmulator) -> None:
    before = [c["id"] for c in stripe_emulator.objects("customer")]
    stripe_emulator.create("customer")
    stripe_emulator.delete("customer", before[0])
    stripe_emulator.reset()
    assert [c["id"] for c in stripe_emulator.objects("customer")] == before
    assert stripe_emulator.events() == []
