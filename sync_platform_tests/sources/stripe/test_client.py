"""The client: the real SDK against the emulator, retried as Stripe advises, typed when it gives up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.sources.stripe.client import ApiResponse, StripeApiClient
from sync_platform.sources.stripe.config import parse_config
from sync_platform.sources.stripe.errors import (
    ErrorScope,
    StripeApiError,
    StripeAuthError,
    StripeUnavailableError,
)
from sync_platform_tests.sources.stripe.conftest import InstantClock, list_calls, source_config

T = Any


def run(
    emulator: RunningEmulator,
    clock: InstantClock,
    call: Callable[[StripeApiClient], Awaitable[T]],
    **config: Any,
) -> T:
    async def scenario() -> T:
        client = StripeApiClient(
            parse_config(source_config(emulator, **config)), clock=clock, rng=random.Random(1)
        )
        try:
            return await call(client)
        finally:
            await client.close()

    return asyncio.run(scenario())


def get_customers(client: StripeApiClient) -> Awaitable[ApiResponse]:
    return client.get("/v1/customers", {"limit": 3})


def test_a_transient_server_error_is_retried_with_backoff_until_it_succeeds(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=500, times=2)])
    response = run(stripe_emulator, instant_clock, get_customers)
    assert len(response.data["data"]) == 3
    assert [entry.status for entry in list_calls(stripe_emulator, "/v1/customers")] == [500, 500, 200]
    assert len(instant_clock.slept) == 2
    assert 0 < instant_clock.slept[0] < instant_clock.slept[1]  # exponential


def test_a_429_waits_at_least_what_retry_after_says(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=429, retry_after=7)])
    run(stripe_emulator, instant_clock, get_customers)
    assert 7 <= instant_clock.slept[0] <= 7 * 1.2


def test_a_refused_key_is_not_retried_and_stops_the_connection(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    with pytest.raises(StripeAuthError) as caught:
        run(stripe_emulator, instant_clock, get_customers, api_key="sk_test_" + "x" * 24)
    assert caught.value.scope is ErrorScope.CONNECTION
    assert caught.value.status == 401
    assert "sk_test_xxxxxxxx" not in str(caught.value)
    assert "api_key" in str(caught.value)
    assert len(list_calls(stripe_emulator, "/v1/customers")) == 1


@pytest.mark.parametrize(("status", "should_retry", "attempts"), [(500, False, 1), (409, True, 2)])
def test_stripe_should_retry_overrides_the_status(
    stripe_emulator: RunningEmulator,
    instant_clock: InstantClock,
    status: int,
    should_retry: bool,
    attempts: int,
) -> None:
    failure = ScriptedFailure(path="/v1/customers", status=status, should_retry=should_retry)
    stripe_emulator.set_faults(scripted=[failure])
    with contextlib.suppress(StripeApiError):
        run(stripe_emulator, instant_clock, get_customers)
    assert len(list_calls(stripe_emulator, "/v1/customers")) == attempts


def test_exhausted_retries_raise_a_stream_error_with_the_request_id(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=503, times=10)])
    with pytest.raises(StripeApiError) as caught:
        run(stripe_emulator, instant_clock, get_customers, max_retries=2)
    error = caught.value
    assert (error.status, error.attempts, error.scope) == (503, 3, ErrorScope.STREAM_ERROR)
    assert error.request_id is not None
    assert error.request_id in str(error)
    assert "GET /v1/customers" in str(error)


def test_a_permission_error_makes_the_stream_unavailable(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    with pytest.raises(StripeUnavailableError) as caught:
        run(stripe_emulator, instant_clock, lambda c: c.get("/v1/customers", account="acct_not_mine"))
    assert caught.value.scope is ErrorScope.STREAM_SKIP


def test_retries_are_logged_with_the_rate_limit_reason_and_request_id_and_never_the_key(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock, caplog: pytest.LogCaptureFixture
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=429, retry_after=1)])
    with caplog.at_level(logging.INFO):
        run(stripe_emulator, instant_clock, get_customers)
    retry = next(r for r in caplog.records if r.getMessage().startswith("Retrying Stripe GET /v1/customers"))
    assert "rate limited: global-rate" in retry.getMessage()
    assert "request req_" in retry.getMessage()
    assert stripe_emulator.secret_key not in caplog.text
    # One line for the retry and none per successful request: the hot path formats no log text.
    client_lines = [r for r in caplog.records if r.name.startswith(("stripe", "sync_platform.sources"))]
    assert [r.getMessage().split(" (")[0] for r in client_lines] == ["Retrying Stripe GET /v1/customers"]

    # With debug logging on, each request is one line (method, path, status, request id), no key.
    caplog.clear()
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", status=429, retry_after=1)])
    with caplog.at_level(logging.DEBUG):
        run(stripe_emulator, instant_clock, get_customers)
    lines = [r.getMessage() for r in caplog.records if r.name == "sync_platform.sources.stripe.http"]
    assert [line.split(" (")[0] for line in lines] == [
        "GET /v1/customers: HTTP 429",
        "GET /v1/customers: HTTP 200",
    ]
    assert stripe_emulator.secret_key not in caplog.text


def test_a_request_that_outlives_its_timeout_is_retried_then_reported(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    stripe_emulator.set_faults(latency_ms=1_000)
    with pytest.raises(StripeApiError) as caught:
        run(stripe_emulator, instant_clock, get_customers, request_timeout=0.05, max_retries=1)
    assert caught.value.status is None
    assert caught.value.attempts == 2
    assert "no response" in str(caught.value)


def test_cancelling_a_read_stops_its_request_in_flight(
    stripe_emulator: RunningEmulator, instant_clock: InstantClock
) -> None:
    stripe_emulator.set_faults(latency_ms=60_000)

    async def cancel_while_waiting(client: StripeApiClient) -> bool:
        request = asyncio.create_task(get_customers(client))
        # The emulator holds the request for 60 s: wait until it is there, then cancel.
        assert await asyncio.to_thread(stripe_emulator.requests.wait_in_flight, 1, 30)
        request.cancel()
        done, _ = await asyncio.wait([request], timeout=10)
        return bool(done) and request.cancelled()

    assert run(stripe_emulator, instant_clock, cancel_while_waiting)
