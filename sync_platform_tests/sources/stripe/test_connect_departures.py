"""Connect accounts that leave and come back, as the source answers the runner: an account that
left (deauthorized, or updated out of the metadata filter) is asked nothing by any read; one
updated into the filter joins; a purge is recorded and forgets the account's progress."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.protocol import SourceState
from sync_platform.sources.stripe import StripeSource, connect_departures
from sync_platform.sources.stripe.backfill_state import entry_listed
from sync_platform.sources.stripe.connect_changes import CONNECT_CHANGES, connect_changes
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    fold_state,
    global_states,
    pushed,
    read,
    records,
    source_config,
)

STREAMS = ["customer", "charge"]


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=20, connected_accounts=4, connected_objects=15, seed=31)


def config_for(platform: RunningEmulator, **overrides: Any) -> dict[str, Any]:
    created = platform.store.account(None).account_object["created"]
    return source_config(platform, account_id=platform.account_id, account_created=created, **overrides)


def asked(platform: RunningEmulator) -> set[str | None]:
    return {entry.account for entry in platform.requests.entries()}


def as_json(state: SourceState) -> dict[str, Any]:
    return state.model_dump(mode="json", by_alias=True)


def test_a_deauthorized_account_of_a_hand_kept_list_is_asked_nothing_and_its_lanes_stop(
    source: StripeSource, platform: RunningEmulator
) -> None:
    first, left, *rest = platform.connected_account_ids
    config = config_for(platform, connected_accounts=platform.connected_account_ids)
    catalog = catalog_for(STREAMS)
    backfill = fold_state(read(source, config, catalog))
    assert left in backfill.streams["customer"]["accounts"]
    gone = platform.deauthorize_account(left).event
    live = fold_state(read(source, config, catalog, SourceState.model_validate({"global": {}}), pushed(gone)))
    platform.requests.clear()
    time.sleep(1.05 - time.time() % 1)  # a later second: every lane still planned costs a page

    carried = source.with_account_changes(as_json(backfill), as_json(live))  # what the runner hands on
    assert carried is not None
    again = read(source, config, catalog, SourceState.model_validate(carried))

    assert left not in asked(platform)
    assert {first, *rest} <= asked(platform)  # the others were read (one page each for the new time)
    after = fold_state(again, SourceState.model_validate(carried))
    assert left not in after.streams["customer"]["accounts"]  # its lanes are no longer planned
    assert left not in (after.global_.get("account_errors") or {})  # not parked: it left
    status = source.account_status(as_json(after), as_json(live))
    assert status is not None
    assert status["accounts"][left] == {"status": "deauthorized"}
    assert source.with_account_changes(as_json(after), as_json(live)) is None  # nothing left to carry


def test_a_late_event_of_an_account_that_left_is_not_applied(
    source: StripeSource, platform: RunningEmulator
) -> None:
    left = platform.connected_account_ids[0]
    customer = platform.objects("customer", account_id=left)[0]["id"]
    late = platform.update("customer", customer, {"name": "Before it left"}, account_id=left).event
    gone = platform.deauthorize_account(left).event
    config = config_for(platform, connected_accounts=[left])
    state = SourceState.model_validate({"global": {}})
    platform.requests.clear()
    live = read(source, config, catalog_for(STREAMS), state, pushed(gone, late))
    assert not records(live)
    assert left not in asked(platform)  # not even fetched to settle a version


def test_an_account_updated_out_of_the_filter_leaves_and_one_updated_into_it_joins(
    source: StripeSource, platform: RunningEmulator
) -> None:
    stays, leaves, joins, _ = platform.connected_account_ids
    for account in (stays, leaves):
        platform.update_account(account, {"tier": "gold"})
    config = config_for(platform, connected_accounts="all", account_metadata={"tier": "gold"})
    catalog = catalog_for(STREAMS)
    backfill = fold_state(read(source, config, catalog))
    assert set(backfill.streams["customer"]["accounts"]) == {platform.account_id, stays, leaves}

    out = platform.update_account(leaves, {"tier": ""}).event
    into = platform.update_account(joins, {"tier": "gold"}).event
    noise = platform.update_account(stays, {"note": "still gold"}).event  # no move: no change
    platform.requests.clear()
    state = SourceState.model_validate({"global": {}})
    live = read(source, config, catalog, state, pushed(out, into, noise))

    assert connect_changes(global_states(live)[-1][CONNECT_CHANGES]) == {
        leaves: "unmatched",
        joins: "matched",
    }
    assert asked(platform) == {joins}  # the joining account is backfilled alone
    expected = {(c["id"], joins) for c in platform.objects("customer", account_id=joins)}
    assert expected <= {(r["id"], r["_account_id"]) for r in records(live, "customer")}
    status = source.account_status(as_json(backfill), as_json(fold_state(live, state)))
    assert status is not None
    assert set(status["accounts"]) == {stays, joins}  # the one that left is no longer shown
    assert status["accounts"][joins] == {"status": "backfilling"}


def test_an_authorized_account_outside_the_metadata_filter_is_not_backfilled_nor_written(
    source: StripeSource, platform: RunningEmulator
) -> None:
    """``account.application.authorized`` carries the application, not the account: its metadata
    is looked up, and an account outside the filter is recorded as unmatched (no backfill, its
    later events dropped); one inside it is backfilled."""
    gold = platform.connected_account_ids[0]
    platform.update_account(gold, {"tier": "gold"})
    config = config_for(platform, connected_accounts="all", account_metadata={"tier": "gold"})
    catalog = catalog_for(STREAMS)
    outsider = platform.authorize_account()
    member = platform.authorize_account()
    platform.update_account(member.object["id"], {"tier": "gold"})  # gold before its webhook is applied
    later = platform.create("customer", account_id=outsider.object["id"]).event
    platform.requests.clear()
    state = SourceState.model_validate({"global": {}})
    live = read(source, config, catalog, state, pushed(outsider.event, member.event, later))

    changes = connect_changes(global_states(live)[-1][CONNECT_CHANGES])
    assert changes == {outsider.object["id"]: "unmatched", member.object["id"]: "authorized"}
    written = {r["_account_id"] for name in STREAMS for r in records(live, name)}
    assert outsider.object["id"] not in written
    assert member.object["id"] in written
    assert {e.account for e in platform.requests.entries() if e.path != "/v1/account"} == {
        member.object["id"]
    }  # the outsider cost one lookup, and nothing else


def test_a_hand_kept_list_ignores_metadata_updates(source: StripeSource, platform: RunningEmulator) -> None:
    account = platform.connected_account_ids[0]
    update = platform.update_account(account, {"tier": "gold"}).event
    config = config_for(platform, connected_accounts=[account], account_metadata={})
    live = read(
        source, config, catalog_for(STREAMS), SourceState.model_validate({"global": {}}), pushed(update)
    )
    assert CONNECT_CHANGES not in global_states(live)[-1]


def test_a_purge_is_asked_for_only_when_opted_in_then_recorded_with_the_accounts_progress_forgotten(
    source: StripeSource, platform: RunningEmulator
) -> None:
    kept, left, *_ = platform.connected_account_ids
    config = config_for(platform, connected_accounts=[kept, left])
    catalog = catalog_for(STREAMS)
    backfill = as_json(fold_state(read(source, config, catalog)))
    gone = platform.deauthorize_account(left).event
    live = as_json(
        fold_state(read(source, config, catalog, SourceState.model_validate({"global": {}}), pushed(gone)))
    )

    assert source.accounts_to_purge(config, backfill, live) == []  # off by default
    opted_in = {**config, "purge_deauthorized": True}
    assert source.accounts_to_purge(opted_in, backfill, live) == [left]

    forgotten = source.forget_accounts(backfill, live, [left])
    assert source.accounts_to_purge(opted_in, forgotten, live) == []  # never purged twice
    for name in STREAMS:
        before, after = backfill["streams"][name], forgotten["streams"][name]
        assert set(after["accounts"]) == {platform.account_id, kept}
        assert after["accounts"] == {a: entry for a, entry in before["accounts"].items() if a != left}
        assert after["listed"] == before["listed"] - entry_listed(before["accounts"][left])
        assert all(part["account"] != left for part in after["remaining"])
    status = source.account_status(forgotten, live)
    assert status is not None
    assert status["accounts"][left] == {"status": "deauthorized", "purged": True}

    back = platform.authorize_account(left).event  # authorized again: no longer purged, read afresh
    live = as_json(fold_state(read(source, config, catalog, SourceState.model_validate(live), pushed(back))))
    status = source.account_status(forgotten, live)
    assert status is not None
    assert status["accounts"][left] == {"status": "backfilling"}


@pytest.mark.parametrize("shape", ["unread", "before unread"])
def test_forgetting_an_account_drops_its_unread_lanes_too(shape: str) -> None:
    """A lane not read yet is named only under its stream's `unread` (before `unread` existed, it
    was a range under `remaining` without an entry): purging a departed account still removes it,
    so the next read does not list the account again."""
    window = {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}
    stream: dict[str, Any] = {
        "accounted_range": window,
        "remaining": [],
        "unread": ["acct_left", "acct_new"],
        "listed": 4,
        "accounts": {"acct_kept": {"accounted_range": window, "listed": 4}},
    }
    if shape == "before unread":
        del stream["unread"]
        stream["remaining"] = [{"account": "acct_left", **window, "cursor": None}]
    backfill = {"streams": {"customer": stream}, "global": {}}
    stored = copy.deepcopy(backfill)

    forgotten = connect_departures.forget_accounts(backfill, {}, ["acct_left"])

    kept = forgotten["streams"]["customer"]
    assert kept["remaining"] == []
    assert kept.get("unread") == (["acct_new"] if shape == "unread" else None)
    assert kept["accounts"] == stream["accounts"]
    assert kept["listed"] == 4
    assert backfill == stored  # the stored state is not mutated


def test_forgetting_an_account_counts_an_entry_without_listed_as_nothing() -> None:
    """An entry without a valid `listed` reads as 0 when the checkpoint is planned; forgetting
    another account sums it the same way instead of failing the purge."""
    window = {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}
    stream = {
        "accounted_range": window,
        "remaining": [],
        "unread": [],
        "listed": 9,
        "accounts": {"acct_kept": {"accounted_range": window}, "acct_counted": 3, "acct_left": 6},
    }
    forgotten = connect_departures.forget_accounts(
        {"streams": {"customer": stream}, "global": {}}, {}, ["acct_left"]
    )
    assert forgotten["streams"]["customer"]["listed"] == 3
    assert set(forgotten["streams"]["customer"]["accounts"]) == {"acct_kept", "acct_counted"}
