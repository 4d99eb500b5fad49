"""Connect webhooks keep the account set current: an ``account.application.authorized`` applied by
the live lane backfills that account alone (request log), a ``deauthorized`` one marks the
account, and the account's status reads both from the checkpoints."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.protocol import SourceState
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.connect_changes import CONNECT_CHANGES, connect_changes
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    global_states,
    pushed,
    read,
    records,
    source_config,
    stream_states,
)


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=20, connected_accounts=3, connected_objects=15, seed=23)


def test_an_authorized_account_is_backfilled_alone_and_a_deauthorized_one_is_marked(
    source: StripeSource, platform: RunningEmulator
) -> None:
    created = platform.store.account(None).account_object["created"]
    config = source_config(
        platform, account_id=platform.account_id, account_created=created, connected_accounts="all"
    )
    catalog = catalog_for(["customer", "charge"])
    backfill = read(source, config, catalog)
    backfill_state = {
        "global": global_states(backfill)[-1],
        "streams": {name: stream_states(backfill, name)[-1] for name in ("customer", "charge")},
    }

    joined = platform.authorize_account()
    left = platform.connected_account_ids[0]
    deauthorized = platform.deauthorize_account(left)
    platform.requests.clear()
    live_global = global_states(backfill)[-1]
    live = read(
        source,
        config,
        catalog,
        SourceState.model_validate({"global": live_global}),
        pushed(joined.event, deauthorized.event),
    )

    new = joined.event["account"]
    expected = {
        (obj["id"], new)
        for stream in ("customer", "charge")
        for obj in platform.objects(stream, account_id=new)
    }
    assert expected
    assert expected <= {(row["id"], row["_account_id"]) for row in records(live)}
    requested = {(e.path, e.account) for e in platform.requests.entries()}
    assert ("/v1/accounts", None) not in requested  # no other account listed or read
    assert {account for _, account in requested} == {new}
    changes = connect_changes(global_states(live)[-1][CONNECT_CHANGES])
    assert changes == {new: "authorized", left: "deauthorized"}

    status = source.account_status(backfill_state, {"global": global_states(live)[-1]})
    assert status is not None
    assert status["accounts"][left] == {"status": "deauthorized"}
    assert status["accounts"][new] == {"status": "backfilling"}  # until the backfill lane plans it
    assert status["counts"] == {"ready": 2, "backfilling": 1, "error": 0, "deauthorized": 1}
    assert status["healthy"] == 3


def test_an_older_change_arriving_late_does_not_undo_a_newer_one(
    source: StripeSource, platform: RunningEmulator
) -> None:
    account = platform.connected_account_ids[1]
    gone = platform.deauthorize_account(account).event
    back = platform.authorize_account(account).event
    config = source_config(platform, account_id=platform.account_id, connected_accounts="all")
    state = SourceState.model_validate({"global": {}})
    live = read(source, config, catalog_for(["customer"]), state, pushed(back, {**gone, "created": 1}))
    assert connect_changes(global_states(live)[-1][CONNECT_CHANGES]) == {account: "authorized"}


def test_webhooks_of_an_excluded_account_write_nothing(
    source: StripeSource, platform: RunningEmulator
) -> None:
    """The Connect endpoint delivers every connected account's events; those of an account in
    `exclude_accounts` ("never to sync") are not written."""
    excluded, kept = platform.connected_account_ids[:2]
    config = source_config(
        platform, account_id=platform.account_id, connected_accounts="all", exclude_accounts=[excluded]
    )
    theirs = platform.create("customer", account_id=excluded).event
    ours = platform.create("customer", account_id=kept).event
    state = SourceState.model_validate({"global": {}})
    live = read(source, config, catalog_for(["customer"]), state, pushed(theirs, ours))
    assert {(row["id"], row["_account_id"]) for row in records(live)} == {
        (ours["data"]["object"]["id"], kept)
    }


def test_a_hand_kept_list_takes_no_other_accounts_webhooks(
    source: StripeSource, platform: RunningEmulator
) -> None:
    """With `connected_accounts` a list, an account outside it that is authorized is not backfilled
    (no request for it), its events are not written, and it is no account of the pipeline."""
    listed, unlisted = platform.connected_account_ids[:2]
    config = source_config(platform, account_id=platform.account_id, connected_accounts=[listed])
    joined = platform.authorize_account().event
    theirs = platform.create("customer", account_id=unlisted).event
    ours = platform.create("customer", account_id=listed).event
    platform.requests.clear()
    state = SourceState.model_validate({"global": {}})
    live = read(source, config, catalog_for(["customer"]), state, pushed(joined, theirs, ours))
    assert {(row["id"], row["_account_id"]) for row in records(live)} == {
        (ours["data"]["object"]["id"], listed)
    }
    assert {entry.account for entry in platform.requests.entries()} <= {None, listed}
    assert connect_changes(global_states(live)[-1].get(CONNECT_CHANGES)) == {}
