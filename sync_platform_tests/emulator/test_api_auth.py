"""Keys, Stripe-shaped errors and headers, and Connect account scoping, through the real SDK."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
import stripe
from pydantic import SecretStr

from sync_platform.emulator import EmulatorConfig, RunningEmulator


def test_a_bad_key_raises_authentication_error_without_echoing_the_key(
    stripe_emulator: RunningEmulator,
) -> None:
    bad_key = "sk_test_" + "x" * 20 + "WXYZ"
    with pytest.raises(stripe.AuthenticationError) as caught:
        stripe_emulator.client(bad_key).v1.customers.list()
    assert caught.value.http_status == 401
    assert "WXYZ" in str(caught.value)
    assert bad_key not in str(caught.value)


def test_a_request_without_key_is_a_401_with_stripes_error_body(stripe_emulator: RunningEmulator) -> None:
    response = httpx.get(f"{stripe_emulator.base_url}/v1/customers")
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert "You did not provide an API key" in error["message"]


def test_configured_live_and_test_keys_are_both_accepted(
    stripe_emulator_factory: Callable[..., RunningEmulator],
) -> None:
    live, test = "sk_live_" + "L" * 24, "sk_test_" + "T" * 24
    emulator = stripe_emulator_factory(
        EmulatorConfig(objects=20, api_keys=(SecretStr(test), SecretStr(live)))
    )
    assert emulator.secret_key == test
    assert emulator.client(live).v1.customers.list().object == "list"
    assert emulator.client(test).v1.customers.list().object == "list"


def test_responses_carry_request_id_and_stripe_version(stripe_emulator: RunningEmulator) -> None:
    headers = {"Authorization": f"Bearer {stripe_emulator.secret_key}"}
    first = httpx.get(f"{stripe_emulator.base_url}/v1/customers", headers=headers)
    second = httpx.get(f"{stripe_emulator.base_url}/v1/nope", headers=headers)
    assert first.headers["Request-Id"].startswith("req_")
    assert first.headers["Request-Id"] != second.headers["Request-Id"]
    assert first.headers["Stripe-Version"] == stripe.api_version
    assert second.status_code == 404
    assert "Unrecognized request URL (GET: /v1/nope)" in second.json()["error"]["message"]


def test_unknown_list_parameters_are_refused(stripe_emulator: RunningEmulator) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="Received unknown parameter: colour") as caught:
        stripe_emulator.client().v1.customers.list({"colour": "blue"})  # type: ignore[arg-type]  # the unknown key is the point
    assert caught.value.param == "colour"


def test_account_returns_the_platform_account(stripe_emulator: RunningEmulator) -> None:
    account = stripe_emulator.client().v1.accounts.retrieve_current()
    assert account.id == stripe_emulator.account_id
    earliest = min(c["created"] for c in stripe_emulator.objects("customer"))
    assert account.created < earliest


def test_stripe_account_header_selects_a_connected_accounts_separate_data(
    stripe_emulator_factory: Callable[..., RunningEmulator],
) -> None:
    emulator = stripe_emulator_factory(objects=120, connected_accounts=2, connected_objects=80, seed=5)
    first, second = emulator.connected_account_ids
    client = emulator.client()
    platform_ids = {c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()}
    first_ids = {
        c.id for c in client.v1.customers.list({"limit": 100}, {"stripe_account": first}).auto_paging_iter()
    }
    second_ids = {
        c.id for c in client.v1.customers.list({"limit": 100}, {"stripe_account": second}).auto_paging_iter()
    }
    assert first_ids
    assert second_ids
    assert platform_ids.isdisjoint(first_ids)
    assert first_ids.isdisjoint(second_ids)
    assert client.v1.accounts.retrieve_current(options={"stripe_account": first}).id == first
    connected = [a.id for a in client.v1.accounts.list().auto_paging_iter()]
    assert sorted(connected) == sorted([first, second])
    one_customer = next(iter(first_ids))
    with pytest.raises(stripe.InvalidRequestError, match="No such customer"):
        client.v1.customers.retrieve(one_customer)  # not visible from the platform


def test_an_unknown_connected_account_is_a_permission_error(stripe_emulator: RunningEmulator) -> None:
    with pytest.raises(stripe.PermissionError, match="does not have access to account 'acct_unknown'"):
        stripe_emulator.client().v1.customers.list(options={"stripe_account": "acct_unknown"})
