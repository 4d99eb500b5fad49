"""Per-account isolation: an account that errors or whose access is revoked is parked alone, with
its cause in the global state, while every other account completes."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.emulator.faults import FaultConfig, ScriptedFailure
from sync_platform.protocol import LogMessage, SourceState
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.accounts import ACCOUNT_ERRORS
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    global_states,
    read,
    records,
    source_config,
    statuses,
)


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=60, connected_accounts=3, connected_objects=30, seed=17)


def config_for(emulator: RunningEmulator, accounts: list[str]) -> dict[str, object]:
    created = emulator.store.account(None).account_object["created"]
    return source_config(
        emulator,
        account_id=emulator.account_id,
        account_created=created,
        connected_accounts=accounts,
        max_concurrency=1,
        max_retries=0,
    )


def test_an_account_that_errors_is_parked_with_its_cause_and_the_others_complete(
    source: StripeSource, platform: RunningEmulator
) -> None:
    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path="/v1/customers", nth=2, status=400),)))
    accounts = platform.connected_account_ids
    messages = read(source, config_for(platform, accounts), catalog_for(["customer"]))
    assert statuses(messages, "customer")[-1] == "complete"
    errors = global_states(messages)[-1][ACCOUNT_ERRORS]
    (parked,) = errors
    assert errors[parked]["failure_kind"] == "invalid_request"
    read_accounts = {row["_account_id"] for row in records(messages)}
    assert read_accounts == {platform.account_id, *accounts} - {parked}
    logged = [m.log.message for m in messages if isinstance(m, LogMessage)]
    assert "2 of 3 connected accounts healthy." in logged
    summary = source.account_status({"global": global_states(messages)[-1], "streams": {}}, None)
    assert summary is not None
    assert summary["accounts"][parked]["status"] == "error"

    platform.set_faults()  # the next read tries the parked lane again, and it is healthy again
    state = SourceState.model_validate({"streams": {}, "global": global_states(messages)[-1]})
    again = read(source, config_for(platform, accounts), catalog_for(["customer"]), state)
    assert global_states(again)[-1][ACCOUNT_ERRORS] == {}


def test_a_revoked_account_is_parked_as_a_permission_failure(
    source: StripeSource, platform: RunningEmulator
) -> None:
    revoked = platform.connected_account_ids[0]
    platform.deauthorize_account(revoked)
    accounts = [revoked, *platform.connected_account_ids]
    messages = read(source, config_for(platform, accounts), catalog_for(["customer", "charge"]))
    assert statuses(messages, "customer")[-1] == "complete"
    assert statuses(messages, "charge")[-1] == "complete"
    errors = global_states(messages)[-1][ACCOUNT_ERRORS]
    assert set(errors) == {revoked}
    assert errors[revoked]["failure_kind"] == "permission"
    assert "revoked" in errors[revoked]["cause"]
