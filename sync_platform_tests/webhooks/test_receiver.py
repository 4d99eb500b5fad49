"""The webhook receiver over real HTTP on 127.0.0.1: what is stored, what is refused, and why."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg.sql
import pytest
import stripe

from sync_platform.pipelines import InboxEvent, PipelineStore
from sync_platform.webhooks import JsonLogFormatter
from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET
from sync_platform_tests.webhooks.conftest import Receiver
from sync_platform_tests.webhooks.stripe_webhooks import create_pipeline, signed, stripe_event

OLD_SECRET = "whsec_" + "PreviousSecretStillValid7"


def inbox(store: PipelineStore, pipeline_id: str) -> list[InboxEvent]:
    with store.transaction() as tx:
        return tx.claim_inbox_events(pipeline_id, limit=10_000)


@pytest.fixture
def shop(pipeline_store: PipelineStore) -> str:
    create_pipeline(pipeline_store, "shop", webhook_secret=WEBHOOK_SECRET)
    return "shop"


def test_a_signed_event_is_stored_with_its_id_type_and_full_payload(receiver: Receiver, shop: str) -> None:
    event = stripe_event("evt_1", "invoice.paid", account="acct_9")

    response = receiver.deliver(shop, event)

    assert response.status_code == 200
    assert response.json() == {"received": True, "duplicate": False}
    [stored] = inbox(receiver.store, shop)
    assert (stored.event_id, stored.event_type, stored.payload) == ("evt_1", "invoice.paid", event)


def test_a_redelivered_event_is_a_200_no_op(receiver: Receiver, shop: str) -> None:
    event = stripe_event("evt_1")
    assert receiver.deliver(shop, event).json() == {"received": True, "duplicate": False}

    again = receiver.deliver(shop, event)

    assert again.status_code == 200
    assert again.json() == {"received": True, "duplicate": True}
    assert [e.event_id for e in inbox(receiver.store, shop)] == ["evt_1"]


def test_a_forged_signature_is_a_400_and_stores_nothing(receiver: Receiver, shop: str) -> None:
    response = receiver.deliver(shop, stripe_event("evt_forged"), secret="whsec_" + "attackerGuess")

    assert response.status_code == 400
    assert response.json()["reason"] == "bad_signature"
    assert inbox(receiver.store, shop) == []


def test_a_tampered_body_is_a_400_even_with_a_once_valid_signature(receiver: Receiver, shop: str) -> None:
    body, signature = signed(stripe_event("evt_1"))
    tampered = body.replace(b'"Ada"', b'"Eve"')

    response = receiver.post(shop, tampered, signature)

    assert response.status_code == 400
    assert response.json()["reason"] == "bad_signature"
    assert inbox(receiver.store, shop) == []


def test_a_stale_signature_is_a_400_so_replays_are_refused(receiver: Receiver, shop: str) -> None:
    body, signature = signed(stripe_event("evt_old"), age_seconds=600)

    response = receiver.post(shop, body, signature)

    assert response.status_code == 400
    assert response.json()["reason"] == "stale"
    assert inbox(receiver.store, shop) == []


def test_a_request_without_a_signature_is_a_400(receiver: Receiver, shop: str) -> None:
    response = receiver.post(shop, json.dumps(stripe_event("evt_1")).encode())

    assert response.status_code == 400
    assert response.json()["reason"] == "missing_header"


def test_a_signed_body_that_is_not_a_stripe_event_is_a_400(receiver: Receiver, shop: str) -> None:
    body, signature = signed({"hello": "world"})

    response = receiver.post(shop, body, signature)

    assert response.status_code == 400
    assert response.json()["reason"] == "malformed_payload"
    assert inbox(receiver.store, shop) == []


def test_during_a_secret_rotation_events_signed_with_either_secret_are_stored(
    receiver: Receiver, pipeline_store: PipelineStore
) -> None:
    create_pipeline(pipeline_store, "rotating", webhook_secret=[WEBHOOK_SECRET, OLD_SECRET])

    assert receiver.deliver("rotating", stripe_event("evt_new"), WEBHOOK_SECRET).status_code == 200
    assert receiver.deliver("rotating", stripe_event("evt_old"), OLD_SECRET).status_code == 200
    assert {e.event_id for e in inbox(pipeline_store, "rotating")} == {"evt_new", "evt_old"}


def test_an_unknown_pipeline_is_a_404(receiver: Receiver) -> None:
    response = receiver.deliver("ghost", stripe_event("evt_1"))

    assert response.status_code == 404
    assert response.json()["reason"] == "unknown_pipeline"


def test_an_id_that_cannot_be_a_pipeline_is_a_404_without_a_lookup(receiver: Receiver) -> None:
    response = receiver.deliver("Not..A..Pipeline", stripe_event("evt_1"))

    assert response.status_code == 404


def test_a_deleted_pipeline_is_a_404_and_stores_nothing(receiver: Receiver, shop: str) -> None:
    assert receiver.deliver(shop, stripe_event("evt_before")).status_code == 200
    receiver.store.delete(shop)

    response = receiver.deliver(shop, stripe_event("evt_after"))

    assert response.status_code == 404
    assert response.json()["reason"] == "deleted"
    assert [e.event_id for e in inbox(receiver.store, shop)] == ["evt_before"]


def test_a_paused_pipeline_keeps_its_events_for_when_it_resumes(receiver: Receiver, shop: str) -> None:
    receiver.store.pause(shop)

    response = receiver.deliver(shop, stripe_event("evt_while_paused"))

    assert response.status_code == 200
    assert receiver.store.count_pending_inbox(shop) == 1
    assert receiver.store.get(shop).desired_status == "paused"


def test_a_pipeline_without_a_webhook_secret_refuses_with_the_fix(
    receiver: Receiver, pipeline_store: PipelineStore
) -> None:
    create_pipeline(pipeline_store, "no-secret")

    response = receiver.deliver("no-secret", stripe_event("evt_1"))

    assert response.status_code == 400
    assert response.json()["reason"] == "no_secret"
    assert "webhook_secret" in response.json()["error"]


def test_a_body_declared_over_1_mib_is_a_413_before_it_is_read(receiver: Receiver, shop: str) -> None:
    body, signature = signed(stripe_event("evt_big", padding="x" * (1024 * 1024)))

    response = receiver.post(shop, body, signature)

    assert response.status_code == 413
    assert response.json()["reason"] == "too_large"
    assert inbox(receiver.store, shop) == []


def test_a_streamed_body_over_1_mib_is_a_413_without_buffering_it(receiver: Receiver, shop: str) -> None:
    """No Content-Length (chunked): the receiver counts the bytes as they arrive and stops."""
    _, signature = signed(stripe_event("evt_big"))

    def chunks() -> Iterator[bytes]:
        for _ in range(40):  # 40 x 64 KiB = 2.5 MiB, sent without a length
            yield b"x" * 65536

    response = receiver.client.post(
        f"/webhooks/{shop}", content=chunks(), headers={"Stripe-Signature": signature}
    )

    assert response.status_code == 413
    assert inbox(receiver.store, shop) == []


def test_a_body_just_under_the_limit_is_accepted(receiver: Receiver, shop: str) -> None:
    padding = "x" * (1024 * 1024 - 400)
    body, signature = signed(stripe_event("evt_large_but_fine", padding=padding))
    assert len(body) <= 1024 * 1024

    assert receiver.post(shop, body, signature).status_code == 200


def test_a_secret_the_receiver_cannot_read_is_a_503_so_stripe_retries(
    receiver: Receiver, pipeline_store: PipelineStore, caplog: pytest.LogCaptureFixture
) -> None:
    create_pipeline(pipeline_store, "env-secret", webhook_secret={"env": "UNSET_WEBHOOK_SECRET"})

    with caplog.at_level(logging.INFO, logger="sync_platform.webhooks"):
        response = receiver.deliver("env-secret", stripe_event("evt_1"))

    assert response.status_code == 503
    assert response.json()["reason"] == "secret_unavailable"
    assert "UNSET_WEBHOOK_SECRET" in caplog.text  # the log names what to fix; the client is not told


def test_healthz_answers_with_the_counts_so_far(receiver: Receiver, shop: str) -> None:
    receiver.deliver(shop, stripe_event("evt_1"))
    receiver.deliver(shop, stripe_event("evt_1"))
    receiver.deliver(shop, stripe_event("evt_2"), secret="whsec_" + "wrongwrongwrong")

    response = receiver.client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    counts = response.json()["counts"]
    assert (counts["accepted"], counts["duplicate"], counts["rejected"]) == (1, 1, 1)


def test_each_request_logs_one_json_line_with_its_outcome_and_no_secret(
    receiver: Receiver, shop: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="sync_platform.webhooks"):
        receiver.deliver(shop, stripe_event("evt_1", "charge.succeeded"))
        receiver.deliver(shop, stripe_event("evt_2"), secret="whsec_" + "wrongwrongwrong")

    lines = [
        json.loads(JsonLogFormatter().format(record))
        for record in caplog.records
        if record.name == "sync_platform.webhooks.app" and hasattr(record, "outcome")
    ]
    assert [(line["pipeline_id"], line.get("event_id"), line["outcome"]) for line in lines] == [
        ("shop", "evt_1", "accepted"),
        ("shop", None, "rejected"),
    ]
    assert lines[0]["event_type"] == "charge.succeeded"
    assert lines[1]["reason"] == "bad_signature"
    assert WEBHOOK_SECRET not in caplog.text


def test_no_response_ever_echoes_the_secret(receiver: Receiver, shop: str) -> None:
    bodies = [
        receiver.deliver(shop, stripe_event("evt_1")).text,
        receiver.deliver(shop, stripe_event("evt_2"), secret="whsec_" + "wrongwrongwrong").text,
        receiver.post(shop, b"{}", f"t=1,v1={WEBHOOK_SECRET}").text,
        receiver.deliver("ghost", stripe_event("evt_3")).text,
    ]
    assert all(WEBHOOK_SECRET not in body for body in bodies)


def test_concurrent_deliveries_and_redeliveries_store_each_event_exactly_once(
    receiver: Receiver, shop: str
) -> None:
    """50 events, each delivered three times at once over 30 connections: 50 rows, none lost."""
    deliveries = [signed(stripe_event(f"evt_{n}")) for n in range(50)] * 3

    async def post_all() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=30)
        async with httpx.AsyncClient(base_url=receiver.url, limits=limits, timeout=30) as client:
            return await asyncio.gather(
                *(
                    client.post(f"/webhooks/{shop}", content=body, headers={"Stripe-Signature": sig})
                    for body, sig in deliveries
                )
            )

    responses = asyncio.run(post_all())

    assert {r.status_code for r in responses} == {200}
    assert sum(not r.json()["duplicate"] for r in responses) == 50
    stored = [e.event_id for e in inbox(receiver.store, shop)]
    assert sorted(stored) == sorted(f"evt_{n}" for n in range(50))


# --- content PostgreSQL cannot hold as it is: stored repaired, never "retry later" -----------------


def original_payload(store: PipelineStore, event_id: str) -> bytes | None:
    def read(tx: Any) -> bytes | None:
        row = tx.connection.execute(
            psycopg.sql.SQL("SELECT original_payload FROM {} WHERE event_id = %s").format(tx.tables.inbox),
            (event_id,),
        ).fetchone()
        return None if row is None or row["original_payload"] is None else bytes(row["original_payload"])

    return store.atomically(read)


@pytest.mark.parametrize(
    ("name", "stored_as"),
    [
        ("nul \u0000 inside", "nul \ufffd inside"),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        (float("nan"), None),
        (float("inf"), None),
    ],
)
def test_a_signed_event_postgresql_cannot_hold_as_is_is_stored_repaired_with_its_original(
    receiver: Receiver, shop: str, name: object, stored_as: object
) -> None:
    event = stripe_event("evt_odd")
    event["data"]["object"]["name"] = name

    response = receiver.deliver(shop, event)

    assert response.status_code == 200  # never 503: Stripe would retry it for days
    [stored] = inbox(receiver.store, shop)
    assert stored.payload["data"]["object"]["name"] == stored_as
    original = original_payload(receiver.store, "evt_odd")
    assert original is not None
    assert repr(json.loads(original)["data"]["object"]["name"]) == repr(name)  # exactly as sent


def test_an_ordinary_event_keeps_no_second_copy(receiver: Receiver, shop: str) -> None:
    receiver.deliver(shop, stripe_event("evt_plain"))
    assert original_payload(receiver.store, "evt_plain") is None


def test_a_signed_body_nested_absurdly_deep_is_a_400_that_quotes_nothing(
    receiver: Receiver, shop: str, caplog: pytest.LogCaptureFixture
) -> None:
    depth = 5000
    body = (
        '{"id": "evt_deep", "object": "event", "type": "customer.updated", "created": 1, "data": '
        + '{"object": ' * depth
        + '"SECRET-ISH-CONTENT"'
        + "}" * depth
        + "}"
    )
    header = stripe.WebhookSignature.generate_signature_header(body, WEBHOOK_SECRET)

    with caplog.at_level(logging.DEBUG):
        response = receiver.post(shop, body.encode(), header)

    assert response.status_code == 400
    assert response.json()["reason"] == "malformed_payload"
    assert "deeper than 64 levels" in response.json()["error"]
    assert inbox(receiver.store, shop) == []
    assert "SECRET-ISH-CONTENT" not in caplog.text
