"""Pushed input: events become records or tombstones; raw webhooks are verified first."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any
from unittest.mock import ANY

import pytest

from sync_platform.emulator import RunningEmulator, signature_header
from sync_platform.protocol import Message, SourceState
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.errors import MalformedEventError
from sync_platform.sources.stripe.webhook_signature import RejectionReason, WebhookVerificationError
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    global_states,
    pushed,
    read,
    records,
    source_config,
    stream_states,
)

SECRET = "whsec_" + "0123456789abcdef" * 2
OLD_SECRET = "whsec_" + "fedcba9876543210" * 2
STREAMS = ["customer", "invoice", "invoiceitem", "subscription", "product"]


def push(
    source: StripeSource,
    emulator: RunningEmulator,
    *items: Any,
    state: SourceState | None = None,
    **config: Any,
) -> list[Message]:
    return read(source, source_config(emulator, **config), catalog_for(STREAMS), state, pushed(*items))


def raw(event: dict[str, Any], secret: str = SECRET, *, signed_at: float | None = None) -> dict[str, Any]:
    body = json.dumps(event).encode()
    header = signature_header(body, secret, int(signed_at if signed_at is not None else time.time()))
    return {
        "body": body.decode(),
        "headers": {"Stripe-Signature": header, "Content-Type": "application/json"},
    }


def test_one_event_becomes_one_record_then_a_global_checkpoint_without_listing(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    event = stripe_emulator.create("customer", {"name": "Ada"}).event
    stripe_emulator.requests.clear()
    messages = push(source, stripe_emulator, event, account_id=stripe_emulator.account_id)
    assert [m.type for m in messages] == ["record", "source_state"]
    data = messages[0].record.data  # type: ignore[union-attr]
    assert data["id"] == event["data"]["object"]["id"]
    assert data["name"] == "Ada"
    assert data["_updated_at"] == event["created"] + 0.5  # orders after a page listed that second
    assert data["_account_id"] == stripe_emulator.account_id
    (checkpoint,) = global_states(messages)
    assert checkpoint["last_event"] == {"id": event["id"], "created": event["created"]}
    key = f"customer/{stripe_emulator.account_id}/{data['id']}"  # what it wrote, for later batches
    assert checkpoint["recent_versions"]["objects"] == {key: [event["created"], ANY]}
    assert stripe_emulator.requests.entries() == []  # no list, no account lookup


def test_push_merges_into_the_stored_global_state_and_never_writes_a_stream_state(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    backfill = {
        "accounted_range": {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"},
        "remaining": [],
    }
    prior = SourceState.model_validate(
        {"streams": {"customer": backfill}, "global": {"events_cursor": 1_700_000_000}}
    )
    event = stripe_emulator.create("customer").event
    messages = push(source, stripe_emulator, event, state=prior)
    assert stream_states(messages, "customer") == []
    assert global_states(messages)[-1]["events_cursor"] == 1_700_000_000


def test_deleted_objects_and_deleting_event_types_become_tombstones(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    customer = stripe_emulator.objects("customer")[0]
    deleted_customer = stripe_emulator.delete("customer", customer["id"]).event
    item = stripe_emulator.objects("invoiceitem")[0]
    deleted_item = stripe_emulator.delete("invoiceitem", item["id"]).event
    del deleted_item["data"]["object"]["deleted"]  # the event type alone says it is gone
    messages = push(source, stripe_emulator, deleted_customer, deleted_item)
    tombstones = [
        (m.record.stream, m.record.data["id"])
        for m in messages
        if m.type == "record" and m.record.record_deleted
    ]
    assert tombstones == [("customer", customer["id"]), ("invoiceitem", item["id"])]


def test_a_canceled_subscription_is_upserted_not_deleted(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    live = next(s for s in stripe_emulator.objects("subscription") if s["status"] != "canceled")
    event = stripe_emulator.delete("subscription", live["id"]).event
    assert event["type"] == "customer.subscription.deleted"
    messages = push(source, stripe_emulator, event)
    (record,) = [m.record for m in messages if m.type == "record"]
    assert record.record_deleted is None
    assert record.data["status"] == "canceled"


def test_events_of_unselected_streams_or_preview_objects_yield_no_records(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    coupon_event = stripe_emulator.create("coupon").event  # coupon is not among STREAMS
    preview = {**coupon_event, "id": "evt_preview", "type": "invoice.upcoming",
               "data": {"object": {"object": "invoice", "amount_due": 100}}}  # fmt: skip
    messages = push(source, stripe_emulator, coupon_event, preview)
    assert records(messages) == []
    # One checkpoint per batch of pushed events, naming its last one.
    assert [state["last_event"]["id"] for state in global_states(messages)] == ["evt_preview"]


def test_updated_at_is_the_objects_updated_when_it_has_one(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    product = stripe_emulator.objects("product")[0]
    event = stripe_emulator.update("product", product["id"], {"name": "Renamed"}).event
    (data,) = records(push(source, stripe_emulator, event))
    assert data["_updated_at"] == event["data"]["object"]["updated"]


def test_an_event_queued_for_days_is_still_applied(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    """Reference bug #2: events older than the signature tolerance were dropped from the queue."""
    event = stripe_emulator.create("customer").event
    old = {**event, "created": event["created"] - 10 * 86_400}
    assert len(records(push(source, stripe_emulator, old))) == 1


def test_connect_events_carry_their_account(source: StripeSource, stripe_emulator_factory: Any) -> None:
    emulator = stripe_emulator_factory(objects=20, connected_accounts=1)
    (connected,) = emulator.connected_account_ids
    event = emulator.create("customer", account_id=connected).event
    (data,) = records(push(source, emulator, event, connected_accounts=[connected]))
    assert data["_account_id"] == connected


def test_a_cut_short_list_in_an_event_is_fetched_whole(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    invoice = next(i for i in stripe_emulator.objects("invoice") if i["lines"]["has_more"])
    event = stripe_emulator.update("invoice", invoice["id"], {"description": "changed"}).event
    (data,) = records(push(source, stripe_emulator, event))
    expected = stripe_emulator.client().v1.invoices.line_items.list(invoice["id"], {"limit": 100})
    assert [line["id"] for line in data["lines"]["data"]] == [line.id for line in expected.data]


def test_raw_webhooks_are_verified_with_any_of_the_rotating_secrets(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    event = stripe_emulator.create("customer").event
    messages = push(source, stripe_emulator, raw(event, OLD_SECRET), webhook_secret=[SECRET, OLD_SECRET])
    assert len(records(messages)) == 1


def push_until_failure(
    source: StripeSource, emulator: RunningEmulator, *items: Any, **config: Any
) -> tuple[list[Message], BaseException]:
    seen: list[Message] = []

    async def collect() -> None:
        async for message in source.read(
            source_config(emulator, **config), catalog_for(STREAMS), None, pushed(*items)
        ):
            seen.append(message)

    with pytest.raises(Exception) as caught:
        asyncio.run(collect())
    return seen, caught.value


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (
            lambda item: {**item, "body": item["body"].replace("customer", "cust0mer", 1)},
            RejectionReason.BAD_SIGNATURE,
        ),
        (lambda item: {**item, "headers": {}}, RejectionReason.MISSING_HEADER),
    ],
)
def test_a_forged_webhook_raises_a_typed_error_and_produces_nothing(
    source: StripeSource, stripe_emulator: RunningEmulator, tamper: Any, reason: RejectionReason
) -> None:
    good, bad = stripe_emulator.create("customer").event, stripe_emulator.create("customer").event
    seen, error = push_until_failure(
        source, stripe_emulator, raw(good), tamper(raw(bad)), webhook_secret=SECRET
    )
    assert isinstance(error, WebhookVerificationError)
    assert error.reason is reason
    assert [data["id"] for data in records(seen)] == [good["data"]["object"]["id"]]


def test_a_stale_webhook_is_rejected(source: StripeSource, stripe_emulator: RunningEmulator) -> None:
    event = stripe_emulator.create("customer").event
    seen, error = push_until_failure(
        source, stripe_emulator, raw(event, signed_at=time.time() - 400), webhook_secret=SECRET
    )
    assert isinstance(error, WebhookVerificationError)
    assert error.reason is RejectionReason.STALE
    assert records(seen) == []


def test_a_raw_webhook_without_a_configured_secret_is_rejected(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    _, error = push_until_failure(source, stripe_emulator, raw(stripe_emulator.create("customer").event))
    assert isinstance(error, WebhookVerificationError)
    assert error.reason is RejectionReason.NO_SECRET
    assert "webhook_secret" in str(error)


@pytest.mark.parametrize("item", [{"id": "evt_1", "object": "event"}, "customer.created", 42])
def test_anything_that_is_not_an_event_raises_a_typed_error(
    source: StripeSource, stripe_emulator: RunningEmulator, item: Any
) -> None:
    seen, error = push_until_failure(source, stripe_emulator, item)
    assert isinstance(error, MalformedEventError)
    assert seen == []


def test_an_event_wins_over_a_page_listed_in_the_same_second_in_postgres(
    source: StripeSource, stripe_emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    """A customer (no ``updated`` field) listed at second S, then renamed within S: the rename stays."""
    import asyncio

    from sync_platform.destinations.postgres import PostgresDestination
    from sync_platform.protocol import ConfiguredCatalog, ConfiguredStream, record
    from sync_platform.sources.stripe import catalog_payload

    customer = stripe_emulator.objects("customer")[0]
    event = stripe_emulator.update("customer", customer["id"], {"name": "Renamed"}).event
    # One more key than the event's version: at equal times PostgreSQL's content tie-break would
    # keep this (larger) page version, which is exactly what the event's half-second lead prevents.
    listed = {**customer, "_updated_at": event["created"], "_account_id": stripe_emulator.account_id, "x": 1}
    (change,) = [m for m in push(source, stripe_emulator, event, account_id=stripe_emulator.account_id)
                 if m.type == "record"]  # fmt: skip
    stream = catalog_payload([stripe_emulator.account_id], ["customer"]).streams[0]
    catalog = ConfiguredCatalog(streams=[ConfiguredStream(stream=stream)])
    config = {"url": pg.url, "schema": pg.schema}

    async def write(messages: list[Any]) -> None:
        async def feed() -> Any:
            for message in messages:
                yield message

        destination = PostgresDestination()
        async for _ in destination.setup(config, catalog):
            pass
        async for _ in destination.write(config, catalog, feed()):
            pass

    asyncio.run(write([change, record("customer", listed)]))  # the page arrives after the event
    with pg.connect() as connection:
        name = connection.execute(f"SELECT _raw_data->>'name' FROM \"{pg.schema}\".customer").fetchone()
    assert name == ("Renamed",)
