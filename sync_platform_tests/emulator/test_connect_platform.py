"""A Connect platform in the emulator: thousands of accounts built on first use, and accounts that
join and leave with the events Stripe sends to the platform's Connect endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from sync_platform.emulator import Emulator, EmulatorConfig, RunningEmulator
from sync_platform.emulator.errors import EmulatorError
from sync_platform_tests.plugins.stripe_emulator import WebhookReceiver


def test_ten_thousand_accounts_start_without_building_any_and_are_listed() -> None:
    emulator = Emulator(EmulatorConfig(objects=60, connected_accounts=10_000, connected_objects=40, seed=3))
    assert len(emulator.connected_account_ids) == 10_000
    assert [a.account_id for a in emulator.store.accounts.loaded()] == [emulator.account_id]
    listed = emulator.objects("account")
    assert {a["id"] for a in listed} == set(emulator.connected_account_ids)
    assert [a.account_id for a in emulator.store.accounts.loaded()] == [emulator.account_id]


def test_each_account_has_its_own_small_data_the_same_for_the_same_seed() -> None:
    config = EmulatorConfig(objects=60, connected_accounts=300, connected_objects=50, seed=4)
    first, again = Emulator(config), Emulator(config)
    a, b = first.connected_account_ids[:2]
    customers_a = {c["id"] for c in first.objects("customer", account_id=a)}
    customers_b = {c["id"] for c in first.objects("customer", account_id=b)}
    assert customers_a
    assert customers_b
    assert not customers_a & customers_b
    assert first.objects("invoice", account_id=a) == again.objects("invoice", account_id=a)
    total = sum(len(table.index) for table in first.store.account(a).tables.values())
    assert 15 <= total <= 100
    account_created = first.store.account(a).account_object["created"]
    assert all(  # a backfill starts at the account's creation, so nothing may be older
        stored.created >= account_created
        for table in first.store.account(a).tables.values()
        for stored in table.objects.values()
    )
    invoices = first.objects("invoice", account_id=a)
    assert all(i["customer"] in customers_a for i in invoices if isinstance(i.get("customer"), str))


def test_authorize_and_deauthorize_reach_the_connect_endpoint_and_change_what_the_key_reaches(
    stripe_emulator_factory: Callable[..., RunningEmulator], webhook_receiver: WebhookReceiver
) -> None:
    emulator = stripe_emulator_factory(objects=60, connected_accounts=3, connected_objects=40, seed=5)
    emulator.add_webhook_endpoint(webhook_receiver.url, connect=True)
    joined = emulator.authorize_account()
    account = joined.event["account"]
    assert joined.event["type"] == "account.application.authorized"
    auth = {"Authorization": f"Bearer {emulator.secret_key}"}
    with httpx.Client(base_url=emulator.base_url, headers=auth) as client:
        listed = client.get("/v1/accounts", params={"limit": 100}).json()["data"]
        assert account in {a["id"] for a in listed}
        assert client.get("/v1/customers", headers={"Stripe-Account": account}).status_code == 200
        left = emulator.deauthorize_account(account)
        assert left.event["type"] == "account.application.deauthorized"
        refused = client.get("/v1/customers", headers={"Stripe-Account": account})
        assert refused.status_code == 403
        assert "revoked" in refused.json()["error"]["message"]
        listed = client.get("/v1/accounts", params={"limit": 100}).json()["data"]
        assert account not in {a["id"] for a in listed}
    emulator.wait_for_deliveries(10)
    delivered = [json.loads(w.body) for w in webhook_receiver.received]
    assert [(e["type"], e["account"]) for e in delivered] == [
        ("account.application.authorized", account),
        ("account.application.deauthorized", account),
    ]


def test_the_admin_api_authorizes_and_deauthorizes(stripe_emulator: RunningEmulator) -> None:
    with httpx.Client(base_url=stripe_emulator.base_url) as client:
        joined = client.post("/_emulator/connect/authorize", json={}).json()
        account = joined["event"]["account"]
        assert account in stripe_emulator.connected_account_ids
        client.post("/_emulator/connect/deauthorize", json={"account": account}).raise_for_status()
        assert account not in stripe_emulator.connected_account_ids
        again = client.post("/_emulator/connect/deauthorize", json={"account": account})
        assert again.status_code == 400


def test_deauthorizing_the_platform_is_refused(stripe_emulator: RunningEmulator) -> None:
    with pytest.raises(EmulatorError, match="not a connected account"):
        stripe_emulator.deauthorize_account(stripe_emulator.account_id)


def test_the_admin_api_updates_an_accounts_metadata_with_account_updated(
    stripe_emulator: RunningEmulator,
) -> None:
    with httpx.Client(base_url=stripe_emulator.base_url) as client:
        account = stripe_emulator.authorize_account().event["account"]
        body = {"account": account, "metadata": {"tier": "gold"}}
        first = client.post("/_emulator/connect/update", json=body).json()
        assert first["event"]["type"] == "account.updated"
        assert first["event"]["account"] == account
        assert first["event"]["data"]["object"]["metadata"] == {"tier": "gold"}
        assert first["event"]["data"]["previous_attributes"] == {"metadata": {"tier": None}}
        dropped = client.post("/_emulator/connect/update", json={**body, "metadata": {"tier": ""}}).json()
        assert dropped["event"]["data"]["previous_attributes"] == {"metadata": {"tier": "gold"}}
        client.post("/_emulator/connect/update", json=body).raise_for_status()
        key = {"Authorization": f"Bearer {stripe_emulator.secret_key}"}
        listed = client.get("/v1/accounts", params={"limit": 100}, headers=key).json()["data"]
        assert {a["id"]: a["metadata"] for a in listed}[account] == {"tier": "gold"}
        own = client.get("/v1/account", headers={**key, "Stripe-Account": account}).json()
        assert own["metadata"] == {"tier": "gold"}
        unknown = client.post("/_emulator/connect/update", json={"account": "acct_nobody", "metadata": {}})
        assert unknown.status_code == 400
