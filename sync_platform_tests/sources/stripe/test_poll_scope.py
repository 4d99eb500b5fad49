"""The events poll at Connect scale: it asks the platform and the accounts webhooks do not cover,
never every account every cycle (request log), and a reconcile's replay flags the accounts whose
changes no webhook brought, so the poll asks them too."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.errors import ConfigError
from sync_platform.protocol import Message, SourceState, SyncMode, to_unix
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.config import parse_config
from sync_platform.sources.stripe.events import EVENTS_PATH
from sync_platform.sources.stripe.poll_scope import (
    FLAG_SECONDS,
    GRACE_SECONDS,
    LIVE_SINCE,
    POLL_FLAGS,
    REPLAY_NEWEST,
    WEBHOOK_MEMORY_SECONDS,
    WEBHOOK_SEEN,
    after_replay,
)
from sync_platform.sources.stripe.source import REPLAY_WINDOW
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    global_states,
    pushed,
    read,
    records,
    source_config,
)

ACCOUNTS = 50
SECRET = "whsec_" + "poll_scope_0123456789abcdef"


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=5, connected_accounts=ACCOUNTS, connected_objects=2, seed=31)


def events_asked(emulator: RunningEmulator) -> Counter[str | None]:
    """``/v1/events`` requests per ``Stripe-Account`` (None: the platform)."""
    return Counter(e.account for e in emulator.requests.entries() if e.path == EVENTS_PATH)


def poll(
    source: StripeSource, emulator: RunningEmulator, global_: dict[str, Any], **config: Any
) -> list[Message]:
    """One incremental read of ``customer`` over every connected account, from ``global_``."""
    settings = {
        "account_id": emulator.account_id,
        "account_created": emulator.store.account(None).account_object["created"],
        "connected_accounts": "all",
        "webhook_secret": SECRET,
        **config,
    }
    state = SourceState.model_validate({"global": global_})
    catalog = catalog_for(["customer"], mode=SyncMode.INCREMENTAL)
    return read(source, source_config(emulator, **settings), catalog, state)


def now() -> int:
    return to_unix(datetime.now(UTC))


def test_with_webhooks_the_poll_asks_the_platform_and_the_flagged_accounts_only(
    source: StripeSource, platform: RunningEmulator
) -> None:
    flagged, quiet = platform.connected_account_ids[:2]
    start = now() - 1
    missed = platform.create("customer", account_id=flagged).object["id"]
    platform.create("customer", account_id=quiet)  # its webhook brings it
    own = platform.create("customer").object["id"]
    platform.requests.clear()

    flags = {flagged: {"until": now() + 3_600, "missed": start}}
    messages = poll(source, platform, {"events_cursor": start, POLL_FLAGS: flags})

    assert events_asked(platform) == {None: 1, flagged: 1}  # 2 requests, not 51
    assert {(row["id"], row["_account_id"]) for row in records(messages)} == {
        (missed, flagged),
        (own, platform.account_id),
    }
    (warning,) = [m.log.message for m in messages if m.type == "log" and "no webhook" in m.log.message]
    assert flagged in warning
    assert "1 connected account(s)" in warning


@pytest.mark.parametrize(
    ("listed", "setting", "webhooks", "expected"),
    [
        (None, "auto", True, 1),  # 50 accounts and webhooks: the platform alone
        (None, "auto", False, 1 + ACCOUNTS),  # no webhooks: the poll is the only live channel
        (10, "auto", True, 1 + 10),  # a few accounts: each cycle asks them all
        (None, "all", True, 1 + ACCOUNTS),
        (None, "none", False, 1),
        (None, 3, True, 1 + 3),  # the accounts webhooks cannot reach
    ],
)
def test_poll_connected_accounts_says_which_accounts_one_cycle_asks(
    source: StripeSource,
    platform: RunningEmulator,
    listed: int | None,
    setting: str | int,
    webhooks: bool,
    expected: int,
) -> None:
    ids = platform.connected_account_ids
    config: dict[str, Any] = {
        "connected_accounts": "all" if listed is None else ids[:listed],
        "poll_connected_accounts": ids[:setting] if isinstance(setting, int) else setting,
        "webhook_secret": SECRET if webhooks else None,
    }
    platform.requests.clear()

    poll(source, platform, {"events_cursor": now() - 1}, **config)

    asked = events_asked(platform)
    assert len(asked) == expected
    assert set(asked.values()) == {1}
    assert None in asked
    if isinstance(setting, int):
        assert set(asked) == {None, *ids[:setting]}


@pytest.mark.parametrize("value", ["some", ["acct_1", "acct_1"], ["cus_1"]])
def test_a_bad_poll_connected_accounts_is_a_config_error_naming_the_field(value: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"api_key": "sk_test_" + "k3y" * 8, "poll_connected_accounts": value})
    assert raised.value.field is not None
    assert raised.value.field.startswith("poll_connected_accounts")


def test_a_lapsed_flag_no_longer_widens_the_poll(source: StripeSource, platform: RunningEmulator) -> None:
    flagged = platform.connected_account_ids[0]
    platform.requests.clear()
    poll(source, platform, {"events_cursor": now() - 1, POLL_FLAGS: {flagged: {"until": now() - 1}}})
    assert events_asked(platform) == {None: 1}


def test_the_accounts_are_asked_concurrently_within_max_concurrency(
    source: StripeSource, platform: RunningEmulator
) -> None:
    """With 50 ms a request, 51 accounts asked one after the other would take 2.5 s; eight at a
    time they overlap, which the emulator sees as eight requests in flight at once."""
    platform.set_faults(latency_ms=50)
    overlapped: list[bool] = []
    watcher = threading.Thread(target=lambda: overlapped.append(platform.requests.wait_in_flight(8, 20)))
    watcher.start()
    poll(source, platform, {"events_cursor": now() - 1}, poll_connected_accounts="all", max_concurrency=8)
    watcher.join()
    assert overlapped == [True]
    assert sum(events_asked(platform).values()) == 1 + ACCOUNTS


def test_a_replay_asks_every_account_and_notes_each_ones_newest_event(
    source: StripeSource, platform: RunningEmulator
) -> None:
    first, second = platform.connected_account_ids[:2]
    platform.create("customer", account_id=first)
    newest = platform.create("customer", account_id=first).event["created"]
    other = platform.create("customer", account_id=second).event["created"]
    platform.requests.clear()

    replay = source.replay_state(datetime.now(UTC)).global_
    messages = poll(source, platform, replay)  # auto would ask the platform alone: a replay asks all

    assert len(events_asked(platform)) == 1 + ACCOUNTS
    assert global_states(messages)[-1][REPLAY_NEWEST] == {first: newest, second: other}


def test_pushed_events_of_connected_accounts_are_remembered_per_account(
    source: StripeSource, platform: RunningEmulator
) -> None:
    account = platform.connected_account_ids[3]
    old = {**platform.create("customer", account_id=account).event, "created": 1_000}
    change = platform.create("customer", account_id=account).event
    own = platform.create("customer").event
    config = source_config(
        platform, account_id=platform.account_id, webhook_secret=SECRET, connected_accounts=[account]
    )
    catalog = catalog_for(["customer"])

    live = read(source, config, catalog, SourceState.model_validate({"global": {}}), pushed(old, change))
    assert global_states(live)[-1][WEBHOOK_SEEN] == {account: change["created"]}
    platform_only = read(source, config, catalog, SourceState.model_validate({"global": {}}), pushed(own))
    assert WEBHOOK_SEEN not in global_states(platform_only)[-1]
    stale = {WEBHOOK_SEEN: {"acct_quiet": change["created"] - WEBHOOK_MEMORY_SECONDS - 1}}
    pruned = read(source, config, catalog, SourceState.model_validate({"global": stale}), pushed(change))
    assert global_states(pruned)[-1][WEBHOOK_SEEN] == {account: change["created"]}


# --- what a replay teaches the poll (pure: the state in, the state out) -----------------------------

NOW = 2_000_000_000
SINCE = NOW - 86_400
LIVE = {"events_cursor": NOW - 30, LIVE_SINCE: SINCE, "last_event": {"id": "evt_1", "created": NOW - 40}}


def replayed(**newest: int) -> dict[str, Any]:
    return {REPLAY_NEWEST: {f"acct_{name}": created for name, created in newest.items()}}


def test_an_account_whose_newest_change_no_webhook_brought_is_flagged_and_the_cursor_stays() -> None:
    live = {**LIVE, WEBHOOK_SEEN: {"acct_ok": NOW - 3_600, "acct_late": NOW - 7_200}}
    learned = after_replay(live, replayed(ok=NOW - 3_600, late=NOW - 3_600, never=NOW - 5_000), NOW)
    assert learned is not None
    assert learned[POLL_FLAGS] == {
        "acct_late": {"until": NOW + FLAG_SECONDS, "missed": NOW - 3_600},
        "acct_never": {"until": NOW + FLAG_SECONDS, "missed": NOW - 5_000},
    }
    assert {k: v for k, v in learned.items() if k != POLL_FLAGS} == live  # nothing else moves


def test_no_evidence_changes_nothing_before_the_grace_or_the_live_lanes_start() -> None:
    recent, before_live = NOW - GRACE_SECONDS + 1, SINCE - 1
    assert after_replay(LIVE, replayed(new=recent, old=before_live), NOW) is None
    assert after_replay(LIVE, replayed(), NOW) is None


def test_a_flag_is_lifted_once_webhooks_arrive_renewed_while_they_do_not_and_lapses_unrenewed() -> None:
    flags = {
        "acct_healed": {"until": NOW + 100, "missed": NOW - 90_000},
        "acct_still": {"until": NOW + 100, "missed": NOW - 90_000},
        "acct_quiet": {"until": NOW + 100, "missed": NOW - 90_000},
        "acct_lapsed": {"until": NOW - 1, "missed": NOW - 90_000},
    }
    live = {**LIVE, POLL_FLAGS: flags, WEBHOOK_SEEN: {"acct_healed": NOW - 3_600}}
    learned = after_replay(live, replayed(healed=NOW - 3_600, still=NOW - 3_600), NOW)
    assert learned is not None
    assert learned[POLL_FLAGS] == {
        "acct_still": {"until": NOW + FLAG_SECONDS, "missed": NOW - 3_600},
        "acct_quiet": flags["acct_quiet"],  # no change replayed: kept until it lapses
    }


def test_a_live_state_from_before_live_since_is_judged_from_the_first_reconcile_on() -> None:
    legacy = {k: v for k, v in LIVE.items() if k != LIVE_SINCE}
    assert after_replay(legacy, replayed(), NOW) is None  # one account: nothing to remember
    assert after_replay(legacy, replayed(a=NOW - 3_600), NOW) == {**legacy, LIVE_SINCE: NOW}


def test_the_webhook_memory_outlasts_the_replay_window() -> None:
    assert REPLAY_WINDOW.total_seconds() < WEBHOOK_MEMORY_SECONDS
    assert FLAG_SECONDS > 86_400  # a daily reconcile renews a flag before it lapses


def test_the_source_hook_moves_no_cursor(source: StripeSource) -> None:
    live = SourceState.model_validate({"global": LIVE})
    replay = SourceState.model_validate({"global": replayed(a=NOW - 3_600)})
    learned = source.after_replay(live, replay, datetime.fromtimestamp(NOW, UTC))
    assert learned is not None
    assert learned.global_["events_cursor"] == LIVE["events_cursor"]
    assert set(learned.global_[POLL_FLAGS]) == {"acct_a"}
    assert source.after_replay(live, SourceState(), datetime.fromtimestamp(NOW, UTC)) is None
