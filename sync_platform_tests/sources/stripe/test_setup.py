"""check, discover, setup and teardown against the emulator."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.protocol import ConfiguredCatalog, ConnectionStatus, Message
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.errors import StripeAuthError
from sync_platform.sources.stripe.webhook_endpoint import MANAGED_BY
from sync_platform_tests.plugins.stripe_emulator import WebhookReceiver
from sync_platform_tests.sources.stripe.conftest import list_calls, source_config

EMPTY = ConfiguredCatalog(streams=[])


def setup(source: StripeSource, config: dict[str, Any]) -> list[Message]:
    async def collect() -> list[Message]:
        return [message async for message in source.setup(config, EMPTY)]

    return asyncio.run(collect())


def teardown(source: StripeSource, config: dict[str, Any]) -> list[Message]:
    async def collect() -> list[Message]:
        return [message async for message in source.teardown(config)]

    return asyncio.run(collect())


def controls(messages: list[Message]) -> list[dict[str, Any]]:
    return [m.control.source_config for m in messages if m.type == "control"]  # type: ignore[union-attr]


def endpoints(emulator: RunningEmulator) -> list[dict[str, Any]]:
    return [dict(e) for e in emulator.store.account(None).webhook_endpoints.values()]


def test_check_succeeds_with_a_valid_key_and_fails_clearly_with_a_bad_one(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    ok = asyncio.run(source.check(source_config(stripe_emulator)))
    assert ok.status is ConnectionStatus.SUCCEEDED
    assert [call.path for call in stripe_emulator.requests.entries()] == ["/v1/account"]
    bad = asyncio.run(source.check(source_config(stripe_emulator, api_key="sk_test_" + "b" * 24)))
    assert bad.status is ConnectionStatus.FAILED
    assert "api_key" in (bad.message or "")
    assert "bbbbbbbbbbbb" not in (bad.message or "")


def test_check_names_a_connected_account_the_key_cannot_reach(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    status = asyncio.run(source.check(source_config(stripe_emulator, connected_accounts=["acct_notmine"])))
    assert status.status is ConnectionStatus.FAILED
    assert "acct_notmine" in (status.message or "")


def test_discover_offers_the_catalog_with_the_account_id_stamped(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    catalog = asyncio.run(source.discover(source_config(stripe_emulator)))
    assert len(catalog.streams) >= 50
    customer = next(stream for stream in catalog.streams if stream.name == "customer")
    assert customer.primary_key == [["id"], ["_account_id"]]
    assert customer.newer_than_field == "_updated_at"
    assert customer.json_schema is not None
    assert customer.json_schema["properties"]["_account_id"]["enum"] == [stripe_emulator.account_id]
    assert customer.metadata is not None
    assert customer.metadata["supports_created_filter"] is True


def test_discover_with_a_configured_account_makes_no_request(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    config = source_config(stripe_emulator, account_id="acct_platform", connected_accounts=["acct_c1"])
    catalog = asyncio.run(source.discover(config))
    assert stripe_emulator.requests.entries() == []
    assert catalog.streams[0].json_schema["properties"]["_account_id"]["enum"] == ["acct_c1", "acct_platform"]  # type: ignore[index]


def test_discover_with_a_refused_key_raises_a_typed_error(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    with pytest.raises(StripeAuthError, match="api_key"):
        asyncio.run(source.discover(source_config(stripe_emulator, api_key="sk_test_" + "q" * 24)))


def test_setup_reads_the_account_once_and_returns_it_in_one_control(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    config = source_config(stripe_emulator)
    messages = setup(source, config)
    (updated,) = controls(messages)
    assert updated == {
        **config,
        "account_id": stripe_emulator.account_id,
        "account_created": stripe_emulator.store.account(None).account_object["created"],
    }
    assert len(list_calls(stripe_emulator, "/v1/account")) == 1
    assert controls(setup(source, updated)) == []  # nothing left to learn


def test_setup_creates_a_managed_webhook_endpoint_and_returns_its_secret(
    source: StripeSource, stripe_emulator: RunningEmulator, webhook_receiver: WebhookReceiver
) -> None:
    config = source_config(stripe_emulator, webhook_url=webhook_receiver.url)
    (updated,) = controls(setup(source, config))
    (endpoint,) = endpoints(stripe_emulator)
    assert endpoint["url"] == webhook_receiver.url
    assert endpoint["metadata"]["managed_by"] == MANAGED_BY
    assert endpoint["enabled_events"] == ["*"]
    assert updated["webhook_secret"] == endpoint["secret"]
    # Stripe signs with that secret: an event now reaches the receiver, verifiable with it
    stripe_emulator.create("customer")
    stripe_emulator.wait_for_deliveries()
    assert len(webhook_receiver.received) == 1


def test_setup_reuses_its_endpoint_when_it_still_knows_the_secret(
    source: StripeSource, stripe_emulator: RunningEmulator, webhook_receiver: WebhookReceiver
) -> None:
    (updated,) = controls(setup(source, source_config(stripe_emulator, webhook_url=webhook_receiver.url)))
    before = endpoints(stripe_emulator)
    assert controls(setup(source, updated)) == []
    assert endpoints(stripe_emulator) == before


def test_setup_replaces_its_endpoint_when_the_secret_was_lost(
    source: StripeSource, stripe_emulator: RunningEmulator, webhook_receiver: WebhookReceiver
) -> None:
    config = source_config(stripe_emulator, webhook_url=webhook_receiver.url)
    controls(setup(source, config))
    (old,) = endpoints(stripe_emulator)
    (updated,) = controls(setup(source, config))  # config without the secret
    (new,) = endpoints(stripe_emulator)
    assert new["id"] != old["id"]
    assert updated["webhook_secret"] == new["secret"]


def test_setup_with_connect_accounts_adds_a_connect_endpoint_and_keeps_both_secrets(
    source: StripeSource, stripe_emulator_factory: Any, webhook_receiver: WebhookReceiver
) -> None:
    emulator = stripe_emulator_factory(objects=20, connected_accounts=1)
    (connected,) = emulator.connected_account_ids
    config = source_config(emulator, webhook_url=webhook_receiver.url, connected_accounts=[connected])
    (updated,) = controls(setup(source, config))
    scopes = {e["metadata"]["scope"]: e["secret"] for e in endpoints(emulator)}
    assert updated["webhook_secret"] == [scopes["account"], scopes["connect"]]
    emulator.create("customer", account_id=connected)
    emulator.wait_for_deliveries()
    assert len(webhook_receiver.received) == 1  # the connected account's event, via the connect endpoint


def test_teardown_deletes_only_the_endpoint_it_manages(
    source: StripeSource, stripe_emulator: RunningEmulator, webhook_receiver: WebhookReceiver
) -> None:
    foreign = stripe_emulator.add_webhook_endpoint(webhook_receiver.url)  # same URL, not ours
    other = stripe_emulator.add_webhook_endpoint("http://127.0.0.1:9/elsewhere")
    (updated,) = controls(setup(source, source_config(stripe_emulator, webhook_url=webhook_receiver.url)))
    assert len(endpoints(stripe_emulator)) == 3
    messages = teardown(source, updated)
    assert {e["id"] for e in endpoints(stripe_emulator)} == {foreign["id"], other["id"]}
    assert any(m.type == "log" and "Deleted webhook endpoint" in m.log.message for m in messages)  # type: ignore[union-attr]


def test_neither_the_key_nor_the_webhook_secret_is_ever_logged(
    source: StripeSource,
    stripe_emulator: RunningEmulator,
    webhook_receiver: WebhookReceiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The SDK logs response bodies at DEBUG, and endpoint creation answers with the secret."""
    with caplog.at_level(logging.DEBUG):
        (updated,) = controls(setup(source, source_config(stripe_emulator, webhook_url=webhook_receiver.url)))
        teardown(source, updated)
    assert any("webhook_endpoints" in record.getMessage() for record in caplog.records)
    assert updated["webhook_secret"] not in caplog.text
    assert stripe_emulator.secret_key not in caplog.text
