"""Injected faults reach the real SDK as Stripe's do: 429s with their headers, 5xx, scripted failures."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import stripe
from pydantic import SecretStr

from sync_platform.emulator import FaultConfig, RunningEmulator, ScriptedFailure
from sync_platform.emulator.faults import FaultInjector
from sync_platform.engine import FakeClock


def test_rate_limit_answers_429_with_retry_after_and_reason(stripe_emulator: RunningEmulator) -> None:
    stripe_emulator.set_faults(rate_limit_per_second=0.01, rate_limit_burst=2)
    client = stripe_emulator.client()
    client.v1.customers.list()
    client.v1.customers.list()
    with pytest.raises(stripe.RateLimitError) as caught:
        client.v1.customers.list()
    assert caught.value.http_status == 429
    assert caught.value.json_body is not None
    assert caught.value.json_body["error"]["code"] == "rate_limit"
    assert caught.value.headers is not None
    assert int(caught.value.headers["Retry-After"]) >= 1
    assert caught.value.headers["Stripe-Rate-Limited-Reason"] == "global-rate"


def test_rate_limit_buckets_are_per_key(stripe_emulator_factory: Callable[..., RunningEmulator]) -> None:
    keys = ("sk_test_" + "a" * 24, "sk_test_" + "b" * 24)
    emulator = stripe_emulator_factory(
        objects=10,
        api_keys=tuple(SecretStr(k) for k in keys),
        faults=FaultConfig(rate_limit_per_second=0.01, rate_limit_burst=1),
    )
    emulator.client(keys[0]).v1.customers.list()
    emulator.client(keys[1]).v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        emulator.client(keys[0]).v1.customers.list()


def test_scripted_failure_fails_exactly_the_nth_request(stripe_emulator: RunningEmulator) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/invoices", nth=2, status=503)])
    client = stripe_emulator.client()
    client.v1.invoices.list()
    client.v1.customers.list()  # other paths do not count
    with pytest.raises(stripe.APIError) as caught:
        client.v1.invoices.list()
    assert caught.value.http_status == 503
    client.v1.invoices.list()  # only the 2nd request failed


def test_the_sdk_retries_a_scripted_500_and_succeeds(stripe_emulator: RunningEmulator) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/charges", nth=1, status=500, times=2)])
    page = stripe_emulator.client(max_network_retries=2).v1.charges.list()
    assert page.object == "list"


def test_scripted_429_can_carry_retry_after(stripe_emulator: RunningEmulator) -> None:
    failure = ScriptedFailure(path="/v1/customers/*", status=429, retry_after=7)
    stripe_emulator.set_faults(scripted=[failure])
    customer_id = stripe_emulator.objects("customer")[0]["id"]
    with pytest.raises(stripe.RateLimitError) as caught:
        stripe_emulator.client().v1.customers.retrieve(customer_id)
    assert caught.value.headers is not None
    assert caught.value.headers["Retry-After"] == "7"


def test_an_error_ratio_of_one_fails_every_request(stripe_emulator: RunningEmulator) -> None:
    stripe_emulator.set_faults(error_ratio=1.0)
    with pytest.raises(stripe.APIError, match="An unknown error occurred"):
        stripe_emulator.client().v1.customers.list()
    stripe_emulator.set_faults()  # cleared
    assert stripe_emulator.client().v1.customers.list().object == "list"


def test_latency_and_random_errors_are_reproducible_for_a_seed() -> None:
    config = FaultConfig(latency_ms=50, latency_jitter_ms=20, error_ratio=0.3, seed=9)

    def run() -> list[tuple[float, int | None]]:
        injector = FaultInjector(FakeClock(), config)
        decisions = [injector.decide("GET", "/v1/customers", "sk_test_x") for _ in range(50)]
        return [(d.delay, d.error.status if d.error else None) for d in decisions]

    first = run()
    assert first == run()
    assert all(0.05 <= delay <= 0.07 for delay, _ in first)
    assert 5 <= sum(status == 500 for _, status in first) <= 25


def test_the_token_bucket_refills_with_time() -> None:
    clock = FakeClock()
    injector = FaultInjector(clock, FaultConfig(rate_limit_per_second=2, rate_limit_burst=2))
    statuses = [injector.decide("GET", "/v1/x", "k").error for _ in range(3)]
    assert [s is None for s in statuses] == [True, True, False]
    clock.advance(0.5)  # one token at 2 per second
    assert injector.decide("GET", "/v1/x", "k").error is None
    assert injector.decide("GET", "/v1/x", "k").error is not None
