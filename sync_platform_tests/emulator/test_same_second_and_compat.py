"""Changes within one second, events listed late, and the filters some Stripe-compatible servers
refuse (``created`` on lists, ``types[]`` on ``/v1/events``)."""

from __future__ import annotations

import httpx
import pytest
import stripe

from sync_platform.emulator import RunningEmulator


def test_changes_in_a_pinned_second_share_it(stripe_emulator: RunningEmulator) -> None:
    customer = stripe_emulator.objects("customer")[0]
    product = stripe_emulator.objects("product")[0]
    with stripe_emulator.same_second() as second:
        first = stripe_emulator.update("customer", customer["id"], {"name": "a"})
        again = stripe_emulator.update("customer", customer["id"], {"name": "b"})
        renamed = stripe_emulator.update("product", product["id"], {"name": "c"})
        assert stripe_emulator.pinned_second == second
    assert first.event["created"] == again.event["created"] == renamed.event["created"] == second
    assert renamed.object["updated"] == second
    assert first.event["id"] != again.event["id"]
    assert stripe_emulator.pinned_second is None
    past = stripe_emulator.pin_second(1_700_000_000)
    assert stripe_emulator.update("customer", customer["id"], {"name": "d"}).event["created"] == past
    stripe_emulator.reset()
    assert stripe_emulator.pinned_second is None


def test_the_clock_can_be_pinned_over_http(stripe_emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=f"{stripe_emulator.base_url}/_emulator") as admin:
        assert admin.post("/clock", json={"pinned_second": 1_700_000_000}).json() == {
            "now": 1_700_000_000,
            "pinned_second": 1_700_000_000,
        }
        customer_id = stripe_emulator.objects("customer")[0]["id"]
        event = admin.post(f"/objects/customer/{customer_id}", json={"fields": {"name": "x"}}).json()["event"]
        assert event["created"] == 1_700_000_000
        assert admin.post("/clock", json={"pinned_second": "now"}).json()["pinned_second"] is not None
        assert admin.post("/clock", json={"pinned_second": None}).json()["pinned_second"] is None
        refused = admin.post("/clock", json={"pinned_second": "soon"})
        assert refused.status_code == 400
        assert "pinned_second" in refused.json()["error"]["message"]


def test_events_recorded_while_listing_is_held_are_listed_once_released(
    stripe_emulator: RunningEmulator,
) -> None:
    client = stripe_emulator.client()
    seen = stripe_emulator.create("customer").event
    with stripe_emulator.unlisted_events():
        late = stripe_emulator.create("customer").event
        assert [e.id for e in client.v1.events.list()] == [seen["id"]]
        assert client.v1.events.retrieve(late["id"]).id == late["id"]
    assert [e.id for e in client.v1.events.list()] == [late["id"], seen["id"]]


def test_lists_can_refuse_created_filters_as_some_compatible_servers_do(
    stripe_emulator: RunningEmulator,
) -> None:
    client = stripe_emulator.client()
    stripe_emulator.set_faults(refuse_created_filter=True)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.customers.list({"created": {"gte": 0}})
    assert caught.value.http_status == 400
    assert caught.value.param == "created"
    assert caught.value.json_body == {
        "error": {
            "type": "invalid_request_error",
            "message": "Received unknown parameter: created",
            "code": "parameter_unknown",
            "doc_url": "https://stripe.com/docs/error-codes#parameter-unknown",
            "param": "created",
        }
    }
    assert len(client.v1.customers.list({"limit": 3}).data) == 3  # without the filter: served
    assert client.v1.events.list({"created": {"gte": 0}}).object == "list"  # events keep theirs
    stripe_emulator.set_faults()
    assert client.v1.customers.list({"created": {"gte": 0}}).object == "list"


def test_events_can_refuse_the_types_filter(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    stripe_emulator.create("customer")
    stripe_emulator.set_faults(refuse_event_types_filter=True)
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.events.list({"types": ["customer.created"]})
    assert (caught.value.http_status, caught.value.param) == (400, "types")
    assert "Received unknown parameter: types" in str(caught.value)
    assert len(client.v1.events.list({"type": "customer.*"}).data) == 1
