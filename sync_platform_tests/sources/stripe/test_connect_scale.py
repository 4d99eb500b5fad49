"""A thousand connected accounts in one read: each account's streams listed once, every object once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.accounts import KNOWN_ACCOUNTS
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    global_states,
    read,
    records,
    source_config,
    statuses,
)

STREAMS = ["customer", "charge"]


@pytest.mark.slow
def test_a_thousand_accounts_are_read_in_one_pass_at_the_cost_of_their_pages(
    source: StripeSource, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    """Small data, so every lane is one page: requests = accounts x streams, plus the platform's
    /v1/accounts listing (100 a page) for the accounts' creation times instead of a lookup each."""
    emulator = stripe_emulator_factory(objects=40, connected_accounts=1_000, connected_objects=12, seed=21)
    accounts = emulator.connected_account_ids
    created = emulator.store.account(None).account_object["created"]
    config = source_config(
        emulator,
        account_id=emulator.account_id,
        account_created=created,
        connected_accounts=accounts,
        max_concurrency=64,
    )
    messages = read(source, config, catalog_for(STREAMS))
    for name in STREAMS:
        assert statuses(messages, name)[-1] == "complete"
    requests = Counter((e.path, e.account) for e in emulator.requests.entries())
    listing_pages = requests.pop(("/v1/accounts", None))
    assert listing_pages == len(accounts) // 100
    assert sum(requests.values()) == len(accounts) * len(STREAMS) + len(STREAMS)
    assert max(requests.values()) == 1
    expected = Counter(
        (name, obj["id"], account or emulator.account_id)
        for name in STREAMS
        for account in [None, *accounts]
        for obj in emulator.objects(name, account_id=account)
    )
    got = Counter(
        (name, row["id"], row["_account_id"]) for name in STREAMS for row in records(messages, name)
    )
    assert got == expected
    assert set(global_states(messages)[-1][KNOWN_ACCOUNTS]) == set(accounts)
