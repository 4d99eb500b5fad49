"""Incremental mode: events since the cursor, oldest first, none lost or applied twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.protocol import Message, SourceState, SyncMode, to_unix
from sync_platform.sources.stripe import StripeSource, stream_by_name
from sync_platform.sources.stripe.events import MAX_TYPES_PER_REQUEST
from sync_platform_tests.sources.stripe.conftest import (
    catalog_for,
    fold_state,
    global_states,
    ids,
    list_calls,
    live_ids,
    read,
    records,
    source_config,
    statuses,
    stream_states,
)

DAY = 86_400


def now() -> int:
    return to_unix(datetime.now(UTC))


def poll(
    source: StripeSource,
    emulator: RunningEmulator,
    names: list[str],
    state: SourceState | None,
    **config: Any,
) -> list[Message]:
    return read(
        source, source_config(emulator, **config), catalog_for(names, mode=SyncMode.INCREMENTAL), state
    )


def with_global(data: dict[str, Any], streams: dict[str, Any] | None = None) -> SourceState:
    return SourceState.model_validate({"streams": streams or {}, "global": data})


def test_without_a_cursor_polling_starts_now_and_lists_nothing(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    before = now()
    messages = poll(source, stripe_emulator, ["customer"], None)
    (checkpoint,) = global_states(messages)
    assert before <= checkpoint["events_cursor"] <= now()
    assert statuses(messages, "customer") == ["start", "complete"]
    assert any(m.type == "log" and "No events cursor" in m.log.message for m in messages)
    assert {call.path for call in stripe_emulator.requests.entries()} == {"/v1/account"}


def test_events_since_the_cursor_are_applied_oldest_first_with_global_checkpoints_only(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    start = now() - 10
    with stripe_emulator.same_second(start):
        first = stripe_emulator.create("customer", {"name": "v1"})
    customer_id = first.object["id"]
    with stripe_emulator.same_second(start + 1):  # a second later: events order the versions
        stripe_emulator.update("customer", customer_id, {"name": "v2"})
        second = stripe_emulator.create("customer", {"name": "other"})
        stripe_emulator.create("coupon")  # not selected
    messages = poll(source, stripe_emulator, ["customer"], with_global({"events_cursor": start - 1}))
    assert [(data["id"], data["name"]) for data in records(messages)] == [
        (customer_id, "v1"),
        (customer_id, "v2"),
        (second.object["id"], "other"),
    ]
    assert stream_states(messages, "customer") == []
    final = global_states(messages)[-1]
    assert final["events_cursor"] >= second.event["created"]
    assert second.event["id"] in final["recent_event_ids"]
    assert statuses(messages, "customer") == ["start", "complete"]


def test_a_second_poll_applies_only_new_events_and_catches_late_ones_in_the_overlap(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    start = now() - 1
    seen = stripe_emulator.create("customer").event
    late = stripe_emulator.create("customer").event  # same second or just after
    # As if `late` had not been listable yet when the first poll ran: the cursor is past it,
    # but only `seen` was applied.
    state = with_global({"events_cursor": late["created"], "recent_event_ids": {seen["id"]: seen["created"]}})
    newer = stripe_emulator.create("customer").event
    messages = poll(source, stripe_emulator, ["customer"], state)
    applied = [data["id"] for data in records(messages)]
    assert applied == [late["data"]["object"]["id"], newer["data"]["object"]["id"]]
    again = poll(source, stripe_emulator, ["customer"], fold_state(messages, state))
    assert records(again) == []
    assert start <= global_states(again)[-1]["events_cursor"]


def test_event_types_are_restricted_to_the_selected_streams_in_chunks_stripe_accepts(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    names = ["customer", "invoice", "charge", "subscription", "payment_intent", "checkout_session"]
    poll(source, stripe_emulator, names, with_global({"events_cursor": now() - 10}))
    chunks = [call.params["types"] for call in list_calls(stripe_emulator, "/v1/events")]
    assert len(chunks) > 1
    assert all(len(chunk) <= MAX_TYPES_PER_REQUEST for chunk in chunks)
    expected = {t for name in names for t in stream_by_name(name).event_types}
    assert {t for chunk in chunks for t in chunk} == expected
    assert all(call.params["created"]["gte"] for call in list_calls(stripe_emulator, "/v1/events"))


def test_a_cursor_beyond_the_horizon_backfills_again_then_resumes_events_from_its_start(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    done = {"accounted_range": {"gte": "2020-01-01T00:00:00Z", "lt": "2020-02-01T00:00:00Z"}, "remaining": []}
    stale = with_global({"events_cursor": now() - 26 * DAY, "other": 1}, {"coupon": done})
    started = now()
    messages = poll(source, stripe_emulator, ["coupon"], stale)
    assert any(m.type == "log" and m.log.level == "warn" and "26 days old" in m.log.message for m in messages)
    assert sorted(ids(messages)) == sorted(live_ids(stripe_emulator, "coupon"))  # a full re-list
    assert stream_states(messages, "coupon")[-1]["remaining"] == []
    assert statuses(messages, "coupon")[0] == "start"
    assert statuses(messages, "coupon")[-1] == "complete"
    assert [s for s in statuses(messages, "coupon") if s in ("complete", "error", "skip")] == ["complete"]
    final = global_states(messages)[-1]
    assert "rebackfill" not in final
    assert final["other"] == 1
    assert started <= final["events_cursor"] <= now()
    later = poll(source, stripe_emulator, ["coupon"], fold_state(messages, stale))
    assert records(later) == []
    assert not any(m.type == "log" and "horizon" in m.log.message for m in later)


def test_an_interrupted_re_backfill_resumes_where_it_stopped(
    source: StripeSource, stripe_emulator_factory: Any
) -> None:
    emulator = stripe_emulator_factory(objects=0, counts={"customer": 250}, seed=4)
    stale = with_global({"events_cursor": now() - 40 * DAY})
    config = {"max_concurrency": 1}
    first = poll(source, emulator, ["customer"], stale, **config)
    cut = [i for i, m in enumerate(first) if m.type == "source_state"][3]  # fresh state, marker, 2 pages
    checkpoint = fold_state(first[: cut + 1], stale)
    assert "rebackfill" in checkpoint.global_
    emulator.requests.clear()
    resumed = poll(source, emulator, ["customer"], checkpoint, **config)
    assert "starting_after" in list_calls(emulator, "/v1/customers")[0].params
    before = [data["id"] for data in records(first[:cut])]
    assert sorted(before + ids(resumed)) == sorted(live_ids(emulator, "customer"))
    assert "rebackfill" not in global_states(resumed)[-1]


def test_a_failing_poll_errors_every_polled_stream_and_keeps_the_cursor(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/events", status=500, times=100)])
    state = with_global({"events_cursor": now() - 10})
    messages = poll(source, stripe_emulator, ["customer", "invoice"], state, max_retries=0)
    assert statuses(messages, "customer") == ["start", "error"]
    assert statuses(messages, "invoice") == ["start", "error"]
    assert global_states(messages) == []


def test_a_re_backfill_is_not_held_back_by_a_stream_the_account_cannot_read(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    unavailable = "Your account is not set up to use Issuing."
    stripe_emulator.set_faults(
        scripted=[ScriptedFailure(path="/v1/issuing/cards", status=400, message=unavailable)]
    )
    stale = with_global({"events_cursor": now() - 30 * DAY})
    messages = poll(source, stripe_emulator, ["coupon", "issuing_card"], stale)
    assert statuses(messages, "issuing_card") == ["start", "skip"]
    assert statuses(messages, "coupon")[-1] == "complete"
    assert "rebackfill" not in global_states(messages)[-1]  # polling resumed


def test_a_re_backfill_with_a_failed_stream_keeps_its_marker_for_the_next_run(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    stripe_emulator.set_faults(scripted=[ScriptedFailure(path="/v1/coupons", status=500, times=100)])
    stale = with_global({"events_cursor": now() - 30 * DAY})
    messages = poll(source, stripe_emulator, ["coupon", "customer"], stale, max_retries=0)
    assert statuses(messages, "coupon")[-1] == "error"
    state = fold_state(messages, stale)
    assert state.global_["rebackfill"]["streams"] == ["coupon", "customer"]
    stripe_emulator.set_faults()
    stripe_emulator.requests.clear()
    again = poll(source, stripe_emulator, ["coupon", "customer"], state)
    assert sorted(ids(again, "coupon")) == sorted(live_ids(stripe_emulator, "coupon"))
    assert ids(again, "customer") == []  # finished in the first run: not listed again
    assert "rebackfill" not in global_states(again)[-1]
