"""Connect: each account is read with its own Stripe-Account header, tagged, and kept apart."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.protocol import SourceState, SyncMode, to_unix
from sync_platform.sources.stripe import StripeSource
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    fold_state,
    list_calls,
    live_ids,
    read,
    records,
    source_config,
    statuses,
    stream_states,
)


@pytest.fixture
def connect(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=300, connected_accounts=2, connected_objects=200, seed=9)


def by_account(rows: list[dict[str, Any]]) -> dict[str, Counter[str]]:
    result: dict[str, Counter[str]] = {}
    for row in rows:
        result.setdefault(row["_account_id"], Counter())[row["id"]] += 1
    return result


def test_every_account_is_backfilled_exactly_once_and_tagged_with_its_id(
    source: StripeSource, connect: RunningEmulator
) -> None:
    accounts = connect.connected_account_ids
    config = source_config(connect, connected_accounts=accounts)
    messages = read(source, config, catalog_for(["customer", "invoice"]))
    for stream in ("customer", "invoice"):
        expected = {
            account: Counter(
                live_ids(connect, stream, account_id=None if account == connect.account_id else account)
            )
            for account in [connect.account_id, *accounts]
        }
        assert by_account(records(messages, stream)) == expected
        assert statuses(messages, stream)[-1] == "complete"
    for account in accounts:
        assert list_calls(connect, "/v1/customers", account=account)  # sent with Stripe-Account
    final = stream_states(messages, "customer")[-1]
    assert final["remaining"] == final["unread"] == []
    # every lane finished over its account's whole window: each entry is the account's count
    rows = by_account(records(messages, "customer"))
    listed = {account: sum(ids.values()) for account, ids in rows.items()}
    assert final["accounts"] == listed
    assert final["listed"] == sum(listed.values())


def test_an_account_the_key_cannot_reach_is_skipped_and_the_others_complete(
    source: StripeSource, connect: RunningEmulator
) -> None:
    reachable = connect.connected_account_ids[0]
    config = source_config(connect, connected_accounts=[reachable, "acct_revoked0000"])
    messages = read(source, config, catalog_for(["customer"]))
    assert statuses(messages, "customer")[-1] == "complete"
    assert any(m.type == "log" and "acct_revoked0000" in m.log.message for m in messages)
    assert set(by_account(records(messages))) == {connect.account_id, reachable}


def test_a_tagged_checkpoint_resumes_each_account_where_it_stopped(
    source: StripeSource, connect: RunningEmulator
) -> None:
    accounts = connect.connected_account_ids
    config = source_config(connect, connected_accounts=accounts, max_concurrency=1)
    first = read(source, config, catalog_for(["invoice"]))
    cut = [
        i for i, m in enumerate(first) if m.type == "source_state" and m.source_state.state_type == "stream"
    ][1]
    resumed = read(source, config, catalog_for(["invoice"]), fold_state(first[: cut + 1]))
    before = list(records(first[:cut]))
    combined = by_account(before + records(resumed))
    assert all(count == 1 for counter in combined.values() for count in counter.values())
    assert sum(len(counter) for counter in combined.values()) == sum(
        len(live_ids(connect, "invoice", account_id=a)) for a in [None, *accounts]
    )


def test_events_of_connected_accounts_are_polled_with_their_header_and_tagged(
    source: StripeSource, connect: RunningEmulator
) -> None:
    account = connect.connected_account_ids[1]
    start = to_unix(datetime.now(UTC)) - 1
    created = connect.create("customer", account_id=account)
    own = connect.create("customer")
    state = SourceState.model_validate({"global": {"events_cursor": start}})
    config = source_config(connect, connected_accounts=[account])
    messages = read(source, config, catalog_for(["customer"], mode=SyncMode.INCREMENTAL), state)
    assert {(row["id"], row["_account_id"]) for row in records(messages)} == {
        (created.object["id"], account),
        (own.object["id"], connect.account_id),
    }
    assert list_calls(connect, "/v1/events", account=account)
