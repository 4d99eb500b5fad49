"""Per-account isolation in the events poll and the reconcile's replay: a connected account whose
access was revoked (no deauthorized webhook came) or that keeps failing is parked alone with its
cause and a resume point, the others' events are applied and the cursor advances, later polls do
not ask it (request log), and a replay asks it again from where it stopped. The platform's own
failure still fails the poll."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.emulator.faults import FaultConfig, ScriptedFailure
from sync_platform.protocol import Message, SourceState, SyncMode, to_unix
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.events import EVENTS_PATH
from sync_platform.sources.stripe.poll_parking import POLL_PARKED, REPLAY_RETRIED, after_replay
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    global_states,
    read,
    records,
    source_config,
    statuses,
)

DAY = 86_400


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=5, connected_accounts=4, connected_objects=2, seed=23)


def now() -> int:
    return to_unix(datetime.now(UTC))


def poll(
    source: StripeSource, emulator: RunningEmulator, global_: dict[str, Any], **config: Any
) -> list[Message]:
    """One incremental read of ``customer`` that asks every account of a hand-kept list (with
    ``"all"`` a revoked account would drop out of the next ``/v1/accounts`` listing)."""
    settings = {
        "account_id": emulator.account_id,
        "account_created": emulator.store.account(None).account_object["created"],
        "connected_accounts": emulator.connected_account_ids,
        "poll_connected_accounts": "all",
        "max_concurrency": 1,  # lists in a fixed order, so a scripted failure hits a known account
        "max_retries": 0,
        **config,
    }
    state = SourceState.model_validate({"global": global_})
    return read(
        source,
        source_config(emulator, **settings),
        catalog_for(["customer"], mode=SyncMode.INCREMENTAL),
        state,
    )


def events_asked(emulator: RunningEmulator) -> Counter[str | None]:
    return Counter(e.account for e in emulator.requests.entries() if e.path == EVENTS_PATH)


def warnings(messages: list[Message]) -> list[str]:
    return [m.log.message for m in messages if m.type == "log"]


def test_a_revoked_account_is_parked_alone_and_the_poll_goes_on_without_asking_it_again(
    source: StripeSource, platform: RunningEmulator
) -> None:
    revoked, *others = platform.connected_account_ids
    start = now() - 1
    created = {account: platform.create("customer", account_id=account).object["id"] for account in others}
    own = platform.create("customer").object["id"]
    platform.deauthorize_account(revoked)  # no webhook reaches the pipeline

    listed = [revoked, *others]  # the hand-kept list still names it
    messages = poll(source, platform, {"events_cursor": start}, connected_accounts=listed)

    assert statuses(messages, "customer") == ["start", "complete"]  # no error, no failed poll
    assert {row["id"] for row in records(messages)} == {own, *created.values()}
    final = global_states(messages)[-1]
    assert final["events_cursor"] >= start
    (parked,) = final[POLL_PARKED]
    assert parked == revoked
    assert final[POLL_PARKED][revoked]["failure_kind"] == "permission"
    assert "revoked" in final[POLL_PARKED][revoked]["cause"]
    assert final[POLL_PARKED][revoked]["since"] <= start  # where its events stopped being read
    assert any(revoked in w and "parked" in w for w in warnings(messages))
    status = source.account_status({"global": {}, "streams": {}}, {"global": final})
    assert status is not None
    assert status["accounts"][revoked]["status"] == "error"
    assert "revoked" in status["accounts"][revoked]["cause"]

    platform.requests.clear()
    later = platform.create("customer", account_id=others[0]).object["id"]
    again = poll(source, platform, final, connected_accounts=listed)

    assert events_asked(platform) == {None: 1, **dict.fromkeys(others, 1)}  # the revoked one: never
    assert later in {row["id"] for row in records(again)}
    assert global_states(again)[-1][POLL_PARKED] == final[POLL_PARKED]
    assert any("not polled until a reconcile" in w and revoked in w for w in warnings(again))


def test_an_account_failing_after_retries_is_parked_and_the_platforms_failure_fails_the_poll(
    source: StripeSource, platform: RunningEmulator
) -> None:
    first = platform.connected_account_ids[0]
    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, nth=2, status=500),)))
    messages = poll(source, platform, {"events_cursor": now() - 1})  # the platform first, then `first`
    assert statuses(messages, "customer") == ["start", "complete"]
    parked = global_states(messages)[-1][POLL_PARKED]
    assert set(parked) == {first}
    assert parked[first]["failure_kind"] == "transient"

    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, nth=1, status=403),)))
    failed = poll(source, platform, {"events_cursor": now() - 1})
    assert statuses(failed, "customer")[-1] == "error"
    (error,) = [
        m.stream_status for m in failed if m.type == "stream_status" and m.stream_status.status == "error"
    ]
    assert error.failure_kind == "permission"


def test_every_account_failing_transiently_is_not_their_fault_so_the_poll_fails_whole(
    source: StripeSource, platform: RunningEmulator
) -> None:
    script = ScriptedFailure(path=EVENTS_PATH, nth=2, status=503, times=4)  # every connected account
    platform.set_faults(FaultConfig(scripted=(script,)))
    messages = poll(source, platform, {"events_cursor": now() - 1})
    assert statuses(messages, "customer")[-1] == "error"
    assert all(POLL_PARKED not in state for state in global_states(messages))


def test_a_refused_key_is_one_accounts_only_when_the_platform_read_with_it(
    source: StripeSource, platform: RunningEmulator
) -> None:
    first = platform.connected_account_ids[0]
    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, nth=2, status=401),)))
    messages = poll(source, platform, {"events_cursor": now() - 1})
    assert global_states(messages)[-1][POLL_PARKED][first]["failure_kind"] == "auth"

    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, status=401, times=5),)))
    refused = poll(source, platform, {"events_cursor": now() - 1})
    (status,) = [m.connection_status for m in refused if m.type == "connection_status"]
    assert status.status == "failed"


def test_a_replay_asks_a_parked_account_again_from_where_it_stopped_and_lifts_the_park(
    source: StripeSource, platform: RunningEmulator
) -> None:
    parked, healthy = platform.connected_account_ids[:2]
    since = now() - 5 * DAY  # longer ago than the replay's three days
    change = platform.create("customer", account_id=parked).object["id"]
    live = {
        "events_cursor": now() - 1,
        POLL_PARKED: {parked: {"cause": "HTTP 503", "failure_kind": "transient", "since": since}},
    }
    replay = {**source.replay_state(datetime.now(UTC)).global_, POLL_PARKED: live[POLL_PARKED]}
    platform.requests.clear()

    messages = poll(source, platform, replay)

    assert change in {row["id"] for row in records(messages)}
    windows: dict[str | None, list[tuple[int, int]]] = {}
    for entry in platform.requests.entries():
        if entry.path == EVENTS_PATH:
            created = entry.params["created"]
            windows.setdefault(entry.account, []).append((int(created["gte"]), int(created["lt"])))
    assert min(windows[parked])[0] == since  # its own resume point, not the replay window's start
    replay_start = replay["events_cursor"] - 60
    assert all(lt > replay_start for _, lt in windows[healthy])  # the others: the replay window only
    assert len(windows[healthy]) < len(windows[parked])
    replayed = global_states(messages)[-1]
    assert replayed[POLL_PARKED] == {}
    assert replayed[REPLAY_RETRIED] == [parked]

    learned = source.after_replay(
        SourceState.model_validate({"global": live}),
        SourceState.model_validate({"global": replayed}),
        datetime.now(UTC),
    )
    assert learned is not None
    assert learned.global_[POLL_PARKED] == {}
    assert learned.global_["events_cursor"] == live["events_cursor"]  # the cursor never moves


def test_a_replay_that_finds_the_account_still_revoked_keeps_it_parked_without_failing(
    source: StripeSource, platform: RunningEmulator
) -> None:
    listed = platform.connected_account_ids
    revoked = listed[0]
    platform.deauthorize_account(revoked)
    since = now() - DAY
    stored = {revoked: {"cause": "HTTP 403", "failure_kind": "permission", "since": since}}
    replay = {**source.replay_state(datetime.now(UTC)).global_, POLL_PARKED: stored}

    messages = poll(source, platform, replay, connected_accounts=listed)

    assert statuses(messages, "customer") == ["start", "complete"]
    entry = global_states(messages)[-1][POLL_PARKED][revoked]
    assert entry["since"] == since
    assert "revoked" in entry["cause"]
    asked = [e for e in platform.requests.entries() if e.path == EVENTS_PATH and e.account == revoked]
    assert len(asked) == 1  # refused once, then left alone for the rest of the replay


def test_parked_accounts_failing_again_alone_before_the_replay_window_stay_parked_without_failing(
    source: StripeSource, platform: RunningEmulator
) -> None:
    """The replay's first windows, before its own start, ask only the parked accounts; when they
    all fail transiently again, that is theirs (it is why they were parked), not the network's:
    their parks are renewed and the replay goes on for every account."""
    first, second, *others = platform.connected_account_ids
    since = now() - 5 * DAY  # before the replay window: its first windows ask these two alone
    stored = {account: park(since, "HTTP 503") for account in (first, second)}
    replay = {**source.replay_state(datetime.now(UTC)).global_, POLL_PARKED: stored}
    change = platform.create("customer", account_id=others[0]).object["id"]
    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, status=503, times=2),)))

    messages = poll(source, platform, replay)

    assert statuses(messages, "customer") == ["start", "complete"]
    assert change in {row["id"] for row in records(messages)}
    final = global_states(messages)[-1]
    assert set(final[POLL_PARKED]) == {first, second}
    assert all(final[POLL_PARKED][a]["since"] == since for a in (first, second))


def test_an_account_parked_for_a_refused_key_refusing_again_before_the_replay_window_stays_parked(
    source: StripeSource, platform: RunningEmulator
) -> None:
    """The replay's first windows ask only the parked account; its 401 there (what parked it) renews
    its park and the replay goes on. A key refused for real still fails the read."""
    first, *others = platform.connected_account_ids
    since = now() - 5 * DAY  # before the replay window: its first windows ask this account alone
    stored = {first: {"cause": "HTTP 401", "failure_kind": "auth", "since": since}}
    replay = {**source.replay_state(datetime.now(UTC)).global_, POLL_PARKED: stored}
    change = platform.create("customer", account_id=others[0]).object["id"]
    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, status=401, times=1),)))

    messages = poll(source, platform, replay)

    assert statuses(messages, "customer") == ["start", "complete"]
    assert not [m for m in messages if m.type == "connection_status"]
    assert change in {row["id"] for row in records(messages)}
    final = global_states(messages)[-1]
    assert final[POLL_PARKED][first]["failure_kind"] == "auth"
    assert final[POLL_PARKED][first]["since"] == since

    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path=EVENTS_PATH, status=401, times=50),)))
    refused = poll(source, platform, replay)
    (status,) = [m.connection_status for m in refused if m.type == "connection_status"]
    assert status.status == "failed"


def test_an_account_parked_longer_than_stripe_keeps_events_is_replayed_from_the_horizon_with_a_warning(
    source: StripeSource, platform: RunningEmulator
) -> None:
    parked = platform.connected_account_ids[0]
    stored = {parked: {"cause": "HTTP 503", "failure_kind": "transient", "since": now() - 40 * DAY}}
    replay = {**source.replay_state(datetime.now(UTC)).global_, POLL_PARKED: stored}
    messages = poll(source, platform, replay)
    assert any(parked in w and "cannot be replayed" in w for w in warnings(messages))
    assert global_states(messages)[-1][POLL_PARKED] == {}


# --- what a replay does to the live state's parks (pure) -------------------------------------------


def park(since: int, cause: str = "HTTP 403") -> dict[str, Any]:
    return {"cause": cause, "failure_kind": "permission", "since": since}


def test_the_replays_verdict_wins_for_the_accounts_it_asked_again_and_new_parks_keep_the_earlier_since() -> (
    None
):
    live = {POLL_PARKED: {"acct_healed": park(10), "acct_still": park(10), "acct_meanwhile": park(50)}}
    replayed = {
        REPLAY_RETRIED: ["acct_healed", "acct_still"],
        POLL_PARKED: {"acct_still": park(30, "again"), "acct_meanwhile": park(40), "acct_new": park(60)},
    }
    assert after_replay(live, replayed) == {
        "acct_still": park(30, "again"),  # read up to 30 before failing again
        "acct_meanwhile": park(40),  # parked by the poll during the replay too: the earlier point
        "acct_new": park(60),
    }
    assert after_replay(live, {REPLAY_RETRIED: [], POLL_PARKED: {}}) is None
