"""The generated dataset: deterministic, realistic in shape and time, and internally consistent."""

from __future__ import annotations

import collections
import json
import random

from sync_platform.emulator import DatasetConfig, generate_dataset, plan_counts
from sync_platform.emulator.timeline import draw_created
from sync_platform.sources.stripe import stream_by_name, stripe_catalog

CONFIG = DatasetConfig(seed=11, objects=1_500)


def _fingerprint(config: DatasetConfig) -> str:
    dataset = generate_dataset.__wrapped__(config)  # bypass the cache: really generate twice
    accounts = [(a.account_object, a.objects, sorted(a.children.items())) for a in dataset.accounts()]
    return json.dumps(accounts, sort_keys=True, default=str)


def test_the_same_seed_generates_the_same_data() -> None:
    config = DatasetConfig(seed=3, objects=300, connected_accounts=1, connected_objects=60)
    assert _fingerprint(config) == _fingerprint(config)


def test_another_seed_generates_other_data() -> None:
    assert _fingerprint(DatasetConfig(seed=3, objects=300)) != _fingerprint(
        DatasetConfig(seed=4, objects=300)
    )


def test_counts_add_up_and_every_stream_has_objects() -> None:
    counts = plan_counts(1_500)
    assert sum(counts.values()) == 1_500
    assert all(count >= 1 for count in counts.values())
    assert counts["invoice"] > counts["customer"] > counts["billing_meter"]
    assert plan_counts(100, {"customer": 250})["customer"] == 250


def test_objects_have_the_sdk_fields_ids_with_prefixes_and_their_object_name() -> None:
    dataset = generate_dataset(CONFIG)
    for definition in stripe_catalog():
        names = {f.name for f in definition.fields} - {"deleted"}
        for obj in dataset.platform.objects[definition.name][:5]:
            assert set(obj) == names | {"id", "object"}, definition.name
            assert obj["id"].startswith(definition.id_prefix)
            assert obj["object"] == definition.object_name


def test_created_times_are_skewed_with_bursts_and_many_same_second_ties() -> None:
    times = draw_created(random.Random(1), 2_000, start=0, end=10_000_000)
    per_second = collections.Counter(times)
    assert times == sorted(times)
    assert max(per_second.values()) >= 150  # an import burst: more than a page in one second
    assert sum(count for count in per_second.values() if count > 1) > 500  # ties are common
    recent_half = sum(1 for t in times if t >= 5_000_000)
    assert recent_half > 1_200  # the recent past is busier


def test_references_point_at_existing_objects_created_no_later() -> None:
    platform = generate_dataset(CONFIG).platform
    customers = {c["id"]: c for c in platform.objects["customer"]}
    subscriptions = {s["id"]: s for s in platform.objects["subscription"]}
    charges = {c["id"]: c for c in platform.objects["charge"]}
    oldest_customer = platform.objects["customer"][0]["id"]
    for subscription in subscriptions.values():
        customer = customers[subscription["customer"]]
        assert customer["created"] <= subscription["created"] or customer["id"] == oldest_customer
    subscription_invoices = 0
    for invoice in platform.objects["invoice"]:
        assert invoice["customer"] is None or invoice["customer"] in customers
        parent = invoice["parent"]
        if parent is not None:
            subscription = subscriptions[parent["subscription_details"]["subscription"]]
            assert invoice["customer"] == subscription["customer"]
            subscription_invoices += 1
    assert subscription_invoices > len(platform.objects["invoice"]) / 2
    for refund in platform.objects["refund"]:
        assert refund["amount"] <= charges[refund["charge"]]["amount"]


def test_some_nested_lists_are_longer_than_the_embedded_page() -> None:
    children = generate_dataset(CONFIG).platform.children
    lines = children[("invoice", "lines")]
    assert any(len(items) > 10 for items in lines.values())
    assert all(item["invoice"] == invoice_id for invoice_id, items in lines.items() for item in items)
    items = children[("subscription", "items")]
    assert all(item["price"]["object"] == "price" for group in items.values() for item in group)


def test_objects_with_and_without_updated() -> None:
    platform = generate_dataset(CONFIG).platform
    assert stream_by_name("product").has_updated_field
    assert all(p["updated"] >= p["created"] for p in platform.objects["product"])
    assert not stream_by_name("customer").has_updated_field


def test_event_ids_sort_in_creation_order_and_differ_after_a_restart_with_the_same_seed() -> None:
    """A restarted emulator (demo, then dev) must not reuse event ids: receivers drop repeats."""
    import random

    from sync_platform.emulator.ids import MonotonicIds

    first = MonotonicIds("evt_", random.Random("events:7"), started=1_800_000_000)
    again = MonotonicIds("evt_", random.Random("events:7"), started=1_800_000_060)
    before = [first.next() for _ in range(3)]
    after = [again.next() for _ in range(3)]
    assert before == sorted(before)
    assert not set(before) & set(after)
    assert max(before) < min(after)  # a later start sorts after, as Stripe's newest-first lists need
