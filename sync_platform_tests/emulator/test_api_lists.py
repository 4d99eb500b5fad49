"""Lists, retrieval and nested lists, through the real ``stripe`` SDK."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import stripe

from sync_platform.emulator import RunningEmulator
from sync_platform.sources.stripe import stripe_catalog


def _api_order(objects: list[dict]) -> list[dict]:
    return sorted(objects, key=lambda o: (o["created"], o["id"]), reverse=True)


def test_auto_pagination_returns_every_object_once_in_stripe_order(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    listed = [c.id for c in client.v1.customers.list({"limit": 7}).auto_paging_iter()]
    expected = [c["id"] for c in _api_order(stripe_emulator.objects("customer"))]
    assert listed == expected
    assert len(listed) == len(set(listed)) > 7


def test_created_range_filters_select_exactly_the_objects_in_range(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    invoices = stripe_emulator.objects("invoice")
    times = sorted({i["created"] for i in invoices})
    low, high = times[len(times) // 4], times[3 * len(times) // 4]
    params = {"limit": 100, "created": {"gte": low, "lt": high}}
    listed = [i.id for i in client.v1.invoices.list(params).auto_paging_iter()]
    assert listed == [i["id"] for i in _api_order(invoices) if low <= i["created"] < high]
    gt_lte = [i.id for i in client.v1.invoices.list({"created": {"gt": low, "lte": high}}).auto_paging_iter()]
    assert gt_lte == [i["id"] for i in _api_order(invoices) if low < i["created"] <= high]


def test_a_second_with_more_objects_than_a_page_pages_through_its_ties(
    stripe_emulator_factory: Callable[..., RunningEmulator],
) -> None:
    emulator = stripe_emulator_factory(objects=50, counts={"customer": 1_500}, seed=2)
    customers = emulator.objects("customer")
    busiest = max({c["created"] for c in customers}, key=lambda t: sum(c["created"] == t for c in customers))
    same_second = [c["id"] for c in _api_order(customers) if c["created"] == busiest]
    assert len(same_second) > 100
    params = {"limit": 100, "created": {"gte": busiest, "lt": busiest + 1}}
    listed = [c.id for c in emulator.client().v1.customers.list(params).auto_paging_iter()]
    assert listed == same_second
    assert listed == sorted(listed, reverse=True)  # ties are ordered by id, descending


def test_ending_before_pages_towards_newer_objects(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    charges = [c["id"] for c in _api_order(stripe_emulator.objects("charge"))]
    middle = charges[len(charges) // 2]
    page = client.v1.charges.list({"ending_before": middle, "limit": 3})
    assert [c.id for c in page.data] == charges[len(charges) // 2 - 3 : len(charges) // 2]
    newer = [c.id for c in client.v1.charges.list({"ending_before": middle, "limit": 3}).auto_paging_iter()]
    assert newer == list(reversed(charges[: len(charges) // 2]))


def test_created_filter_is_refused_where_stripe_refuses_it(stripe_emulator: RunningEmulator) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="unknown parameter: created") as caught:
        stripe_emulator.client().v1.tax_ids.list({"created": {"gte": 1}})
    assert caught.value.http_status == 400
    assert caught.value.param == "created"


def test_limit_outside_1_to_100_is_a_400(stripe_emulator: RunningEmulator) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="between 1 and 100"):
        stripe_emulator.client().v1.customers.list({"limit": 101})


def test_every_catalog_stream_can_be_listed(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    for definition in stripe_catalog():
        params = {"limit": 100} if definition.supports_limit else {}
        page = client.raw_request("get", definition.list_path, **params)
        data = client.deserialize(page, api_mode="V1")
        assert data["object"] == "list", definition.name
        assert data["url"] == definition.list_path


def test_retrieve_returns_the_object_and_unknown_ids_are_resource_missing(
    stripe_emulator: RunningEmulator,
) -> None:
    client = stripe_emulator.client()
    customer = stripe_emulator.objects("customer")[0]
    assert client.v1.customers.retrieve(customer["id"]).email == customer["email"]
    with pytest.raises(stripe.InvalidRequestError, match="No such customer: 'cus_nope'") as caught:
        client.v1.customers.retrieve("cus_nope")
    assert caught.value.http_status == 404
    assert caught.value.code == "resource_missing"


def test_invoice_lines_embed_ten_and_the_rest_pages_from_the_lines_endpoint(
    stripe_emulator: RunningEmulator,
) -> None:
    client = stripe_emulator.client()
    invoices = [i for i in stripe_emulator.objects("invoice") if i["lines"]["has_more"]]
    assert invoices, "the generated account has invoices with more than 10 lines"
    invoice = client.v1.invoices.retrieve(invoices[0]["id"])
    assert len(invoice.lines.data) == 10
    assert invoice.lines.has_more is True
    assert invoice.lines.url == f"/v1/invoices/{invoice.id}/lines"
    every_line = list(client.v1.invoices.line_items.list(invoice.id, {"limit": 4}).auto_paging_iter())
    assert [line.id for line in every_line[:10]] == [line.id for line in invoice.lines.data]
    assert len(every_line) > 10
    assert len({line.id for line in every_line}) == len(every_line)
    assert {line.invoice for line in every_line} == {invoice.id}


def test_subscription_items_are_listed_by_subscription(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    subscription = stripe_emulator.objects("subscription")[0]
    items = list(client.v1.subscription_items.list({"subscription": subscription["id"]}).auto_paging_iter())
    assert [i.id for i in items] == [i["id"] for i in subscription["items"]["data"]]
    assert subscription["items"]["url"] == f"/v1/subscription_items?subscription={subscription['id']}"
    with pytest.raises(stripe.InvalidRequestError, match="Missing required param: subscription"):
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]  # the missing param is the point


def test_charge_refunds_embed_the_refunds_listed_by_charge(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    refund = stripe_emulator.objects("refund")[0]
    charge = client.v1.charges.retrieve(refund["charge"])
    by_charge = [r.id for r in client.v1.refunds.list({"charge": charge.id}).auto_paging_iter()]
    assert refund["id"] in by_charge
    assert [r.id for r in charge.refunds.data] == by_charge[:10]


def test_checkout_session_line_items_are_embedded_and_listable(stripe_emulator: RunningEmulator) -> None:
    client = stripe_emulator.client()
    session = stripe_emulator.objects("checkout_session")[0]
    listed = list(client.v1.checkout.sessions.line_items.list(session["id"]).auto_paging_iter())
    assert [item.id for item in listed][:10] == [item["id"] for item in session["line_items"]["data"]]
    assert all(item.object == "item" for item in listed)


def test_subscriptions_list_leaves_out_canceled_ones_unless_status_asks(
    stripe_emulator: RunningEmulator,
) -> None:
    client = stripe_emulator.client()
    everything = stripe_emulator.objects("subscription")
    canceled = {s["id"] for s in everything if s["status"] == "canceled"}
    assert canceled, "the generated account has canceled subscriptions"
    default = {s.id for s in client.v1.subscriptions.list({"limit": 100}).auto_paging_iter()}
    every = {s.id for s in client.v1.subscriptions.list({"limit": 100, "status": "all"}).auto_paging_iter()}
    assert default == {s["id"] for s in everything} - canceled
    assert every == {s["id"] for s in everything}
