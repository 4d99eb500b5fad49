"""The receiver fed by the Stripe emulator: webhooks signed and delivered by the emulator itself.

Each test's pipeline is a real Stripe pipeline whose connector setup registered the receiver's URL
with the emulator (``webhook_url``) and stored the signing secret the emulator returned. Changes
made in the emulator (``update``/``create``/``delete``) then reach the receiver the way Stripe's
do: signed, from background workers, retried on any non-2xx answer. ``Wire`` (see ``wire.py``)
sits between them to lose an acknowledgement or capture a delivery for a replay, and the
receiver's signature check reads a ``FakeClock``, so "five minutes later" needs no sleep.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from sync_platform.emulator import DeliveryAttempt, RetryPolicy, RunningEmulator
from sync_platform.engine import ConnectorRegistry, Engine, FakeClock, blocking, default_registry
from sync_platform.pipelines import SECRET_KEY_ENV, InboxEvent, PipelineCreate, PipelineStore
from sync_platform.protocol import ControlMessage
from sync_platform.sources.stripe.webhook_signature import (
    DEFAULT_TOLERANCE_SECONDS,
    VerifiedEvent,
    verify_webhook,
)
from sync_platform.webhooks import ReceiverSettings, WebhookVerifier, create_app
from sync_platform_tests.webhooks.conftest import Receiver, serve_receiver
from sync_platform_tests.webhooks.wire import Wire, WireMiddleware

RETRY_DELAYS = (0.05, 0.05)
"""Two quick retries: Stripe's schedule, compressed so a refused event gives up within a second."""

pytestmark = pytest.mark.filterwarnings(
    # The stripe SDK's own httpx transport posts raw bytes with ``data=`` (setup creates an endpoint).
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


def inbox(store: PipelineStore, pipeline_id: str) -> list[InboxEvent]:
    with store.transaction() as tx:
        return tx.claim_inbox_events(pipeline_id, limit=10_000)


def attempts_of(emulator: RunningEmulator, event: dict[str, Any]) -> list[tuple[int, int | None]]:
    """``(attempt, status)`` of every delivery of ``event``, in order."""
    attempts: list[DeliveryAttempt] = emulator.deliveries
    return sorted((a.attempt, a.status) for a in attempts if a.event_id == event["id"])


def verifier_at(clock: FakeClock) -> WebhookVerifier:
    """The receiver's real signature check, with "now" read from ``clock``."""

    def verify(body: bytes, signature_header: str | None, secrets: Sequence[SecretStr]) -> VerifiedEvent:
        return verify_webhook(body, signature_header, secrets, now=clock.now().timestamp())

    return verify


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=60, seed=7, webhooks=RetryPolicy(delays=RETRY_DELAYS))


@pytest.fixture
def connector_registry() -> ConnectorRegistry:
    """The built-in connectors: these pipelines use the real ``stripe`` source."""
    return default_registry(include_entry_points=False)


@pytest.fixture
def store_environ(secret_key: str, emulator: RunningEmulator) -> dict[str, str]:
    return {SECRET_KEY_ENV: secret_key, "STRIPE_API_KEY": emulator.secret_key}


@pytest.fixture
def receiver_clock() -> FakeClock:
    """Starts at the wall clock (the emulator signs with it) and moves only when a test says so."""
    return FakeClock(start=datetime.now(UTC))


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def receiver(
    pipeline_store: PipelineStore, receiver_settings: ReceiverSettings, receiver_clock: FakeClock, wire: Wire
) -> Iterator[Receiver]:
    app = create_app(pipeline_store, verifier=verifier_at(receiver_clock), settings=receiver_settings)
    app.add_middleware(WireMiddleware, wire=wire)
    with serve_receiver(app, pipeline_store) as served:
        yield served


@pytest.fixture
def shop(receiver: Receiver, emulator: RunningEmulator, connector_registry: ConnectorRegistry) -> str:
    """A Stripe pipeline set up as the platform does it: setup registers the receiver with Stripe."""
    store = receiver.store
    store.create(
        PipelineCreate.model_validate(
            {
                "id": "shop",
                "source": {
                    "type": "stripe",
                    "stripe": {
                        "api_key": {"env": "STRIPE_API_KEY"},
                        "base_url": emulator.base_url,
                        "rate_limit": 1000,
                        "webhook_url": f"{receiver.url}/webhooks/shop",
                    },
                },
                "destination": {"type": "null"},
                "streams": ["customer"],
            }
        )
    )
    config = store.resolve_secrets(store.get("shop"))
    for message in blocking.iterate(lambda: Engine(connector_registry).setup(config)):
        if isinstance(message, ControlMessage):
            store.apply_control("shop", message)
    [endpoint] = emulator.client().v1.webhook_endpoints.list().data
    assert endpoint.url == f"{receiver.url}/webhooks/shop"
    return "shop"


def test_every_change_the_emulator_reports_is_stored_once_as_it_was_sent(
    receiver: Receiver, emulator: RunningEmulator, shop: str
) -> None:
    first, second = emulator.objects("customer")[:2]
    changes = [
        emulator.update("customer", first["id"], {"name": "Ada Lovelace"}),
        emulator.create("customer", {"email": "grace@example.com"}),
        emulator.delete("customer", second["id"]),
    ]

    emulator.wait_for_deliveries()

    events = [change.event for change in changes]
    assert [attempts_of(emulator, event) for event in events] == [[(1, 200)]] * 3
    stored = {event.event_id: event for event in inbox(receiver.store, shop)}
    assert sorted(stored) == sorted(event["id"] for event in events)
    for event in events:
        row = stored[event["id"]]
        assert row.event_type == event["type"]
        assert row.payload["data"]["object"] == event["data"]["object"]
    assert [event["type"] for event in events] == ["customer.updated", "customer.created", "customer.deleted"]


def test_a_redelivery_after_a_lost_acknowledgement_is_a_200_no_op(
    receiver: Receiver, emulator: RunningEmulator, shop: str, wire: Wire
) -> None:
    """The receiver committed, but its 200 never reached Stripe, so Stripe sends the event again."""
    wire.lose_acks = 1
    customer = emulator.objects("customer")[0]

    change = emulator.update("customer", customer["id"], {"metadata": {"tier": "gold"}})
    emulator.wait_for_deliveries()

    assert attempts_of(emulator, change.event) == [(1, 503), (2, 200)]
    assert [event.event_id for event in inbox(receiver.store, shop)] == [change.event["id"]]
    counts = receiver.client.get("/healthz").json()["counts"]
    assert (counts["accepted"], counts["duplicate"]) == (1, 1)


def test_a_paused_pipeline_still_stores_what_the_emulator_sends(
    receiver: Receiver, emulator: RunningEmulator, shop: str
) -> None:
    receiver.store.pause(shop)
    customer = emulator.objects("customer")[0]

    change = emulator.update("customer", customer["id"], {"name": "Paused But Kept"})
    emulator.wait_for_deliveries()

    assert attempts_of(emulator, change.event) == [(1, 200)]
    assert [event.event_id for event in inbox(receiver.store, shop)] == [change.event["id"]]


def test_a_deleted_pipeline_answers_404_to_every_attempt_and_stores_nothing_more(
    receiver: Receiver, emulator: RunningEmulator, shop: str
) -> None:
    customer = emulator.objects("customer")[0]
    before = emulator.update("customer", customer["id"], {"name": "Before The Delete"})
    emulator.wait_for_deliveries()
    receiver.store.delete(shop)

    after = emulator.update("customer", customer["id"], {"name": "After The Delete"})
    emulator.wait_for_deliveries()

    assert attempts_of(emulator, before.event) == [(1, 200)]
    assert attempts_of(emulator, after.event) == [(n, 404) for n in range(1, len(RETRY_DELAYS) + 2)]
    assert [event.event_id for event in inbox(receiver.store, shop)] == [before.event["id"]]


def test_a_captured_delivery_replayed_after_the_tolerance_is_refused_as_stale(
    receiver: Receiver, emulator: RunningEmulator, shop: str, wire: Wire, receiver_clock: FakeClock
) -> None:
    """Whoever captured a genuine delivery can replay its exact bytes only within five minutes."""
    wire.intercept = 2  # the next two deliveries are captured and never reach the receiver
    first, second = emulator.objects("customer")[:2]
    emulator.update("customer", first["id"], {"name": "Captured One"})
    emulator.update("customer", second["id"], {"name": "Captured Two"})
    emulator.wait_for_deliveries()
    early, late = wire.captured
    assert inbox(receiver.store, shop) == []

    in_time = receiver.post(shop, early.body, early.signature)
    receiver_clock.advance(DEFAULT_TOLERANCE_SECONDS + 1)
    too_late = receiver.post(shop, late.body, late.signature)

    assert in_time.json() == {"received": True, "duplicate": False}  # the capture is genuine
    assert too_late.status_code == 400
    assert too_late.json()["reason"] == "stale"
    assert [event.event_id for event in inbox(receiver.store, shop)] == [json.loads(early.body)["id"]]
