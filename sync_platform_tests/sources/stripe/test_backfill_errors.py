"""Failures stay in their stream: skip what the account cannot read, error what broke, go on."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.protocol import ConfiguredCatalog, ConfiguredStream, SourceState, Stream
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.accounts import STRIPE_LAUNCH
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    ids,
    list_calls,
    live_ids,
    read,
    source_config,
    statuses,
    stream_states,
)


def test_a_stream_that_keeps_failing_ends_in_error_and_the_others_complete(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/invoices", status=500, times=100)])
    messages = read(
        source, source_config(stripe_emulator, max_retries=1), catalog_for(["invoice", "customer"])
    )
    assert statuses(messages, "invoice") == ["start", "error"]
    error = next(
        m.stream_status.error
        for m in messages
        if m.type == "stream_status" and m.stream_status.status == "error"
    )
    assert "GET /v1/invoices" in error
    assert "HTTP 500" in error
    assert "2 attempts" in error
    assert statuses(messages, "customer")[-1] == "complete"
    assert Counter(ids(messages, "customer")) == Counter(live_ids(stripe_emulator, "customer"))


def test_a_failure_after_some_pages_keeps_the_last_checkpoint_to_resume_from(
    source: StripeSource, stripe_emulator_factory: object
) -> None:
    emulator = stripe_emulator_factory(objects=0, counts={"customer": 250}, seed=2)  # type: ignore[operator]
    emulator.set_faults(scripted=[ScriptedFailure(path="/v1/customers", nth=2, status=500, times=100)])
    config = source_config(emulator, max_retries=0, max_concurrency=1)
    messages = read(source, config, catalog_for(["customer"]))
    assert statuses(messages, "customer") == ["start", "range_complete", "error"]
    (checkpoint,) = stream_states(messages, "customer")
    assert checkpoint["listed"] == 100
    assert checkpoint["remaining"][0]["cursor"] is not None
    emulator.set_faults()
    state = SourceState.model_validate({"streams": {"customer": checkpoint}})
    resumed = read(source, config, catalog_for(["customer"]), state)
    assert sorted(ids(messages) + ids(resumed)) == sorted(live_ids(emulator, "customer"))


def test_an_unknown_stream_is_an_error_naming_it_and_nothing_else(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    bogus = Stream(name="custmer", primary_key=[["id"]])
    catalog = ConfiguredCatalog(streams=[ConfiguredStream(stream=bogus)])
    messages = read(source, source_config(stripe_emulator), catalog)
    assert [m.type for m in messages] == ["stream_status"]
    status = messages[0].stream_status
    assert status.status == "error"
    assert "'custmer'" in status.error
    assert "Did you mean 'customer'?" in status.error


@pytest.mark.parametrize(
    ("failure", "skipped"),
    [
        (
            ScriptedFailure(
                path="/v1/issuing/cards", status=400, message="Your account is not set up to use Issuing."
            ),
            True,
        ),
        (ScriptedFailure(path="/v1/issuing/cards", status=403, message="This key cannot read cards."), True),
        (
            ScriptedFailure(
                path="/v1/issuing/cards", status=400, message="This endpoint is only available in testmode."
            ),
            True,
        ),
        (
            ScriptedFailure(
                path="/v1/issuing/cards", status=400, message="Your account is not set up to pay out."
            ),
            False,
        ),
    ],
)
def test_a_resource_the_account_cannot_use_is_skipped_with_the_reason(
    source: StripeSource, stripe_emulator: RunningEmulator, failure: ScriptedFailure, skipped: bool
) -> None:
    stripe_emulator.set_faults(scripted=[failure])
    messages = read(source, source_config(stripe_emulator), catalog_for(["issuing_card", "coupon"]))
    outcome = [
        m.stream_status
        for m in messages
        if m.type == "stream_status" and m.stream_status.stream == "issuing_card"
    ]
    assert [s.status for s in outcome] == ["start", "skip" if skipped else "error"]
    assert str(failure.message) in (outcome[-1].reason if skipped else outcome[-1].error)  # type: ignore[union-attr]
    assert statuses(messages, "coupon")[-1] == "complete"


def test_a_refused_key_fails_the_connection_and_reads_nothing_more(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    config = source_config(stripe_emulator, api_key="sk_test_" + "z" * 24)
    messages = read(source, config, catalog_for(["customer", "invoice"]))
    assert [m.type for m in messages] == ["connection_status"]
    assert messages[0].connection_status.status == "failed"
    assert "api_key" in (messages[0].connection_status.message or "")


def test_a_key_revoked_mid_read_fails_the_connection(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(
        scripted=[ScriptedFailure(path="/v1/customers", status=401, message="Expired API Key provided")]
    )
    config = source_config(
        stripe_emulator, account_id=stripe_emulator.account_id, account_created=1_700_000_000
    )
    messages = read(source, config, catalog_for(["customer"]))
    assert messages[-1].type == "connection_status"
    assert messages[-1].connection_status.status == "failed"
    assert "complete" not in statuses(messages, "customer")


def test_when_the_account_cannot_be_read_the_backfill_starts_at_stripes_launch(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/account", status=500, times=100)])
    config = source_config(stripe_emulator, account_id=stripe_emulator.account_id, max_retries=0)
    messages = read(source, config, catalog_for(["coupon"]))
    assert any(m.type == "log" and "2011" in m.log.message for m in messages)
    first = list_calls(stripe_emulator, "/v1/coupons")[0].params
    assert int(first["created"]["gte"]) == STRIPE_LAUNCH == int(datetime(2011, 1, 1, tzinfo=UTC).timestamp())
    assert statuses(messages, "coupon")[-1] == "complete"
    assert Counter(ids(messages)) == Counter(live_ids(stripe_emulator, "coupon"))


def test_a_stored_state_of_another_shape_is_discarded_and_the_stream_starts_over(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    legacy = SourceState.model_validate({"streams": {"coupon": {"eventId": "evt_1", "eventCreated": 1}}})
    messages = read(source, source_config(stripe_emulator), catalog_for(["coupon"]), legacy)
    assert any(m.type == "log" and "starts its backfill over" in m.log.message for m in messages)
    assert Counter(ids(messages)) == Counter(live_ids(stripe_emulator, "coupon"))
