"""Backfill: pages, checkpoints, resumes and statuses, read from the emulator through the SDK."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.protocol import Message, OpenTimeRange, SourceState, iso, merge_ranges, to_unix
from sync_platform.sources.stripe import StripeSource
from sync_platform_tests.sources.stripe.conftest import (
    InstantClock,
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

EmulatorFactory = Callable[..., RunningEmulator]


@pytest.fixture
def customers_350(stripe_emulator_factory: EmulatorFactory) -> RunningEmulator:
    return stripe_emulator_factory(objects=0, counts={"customer": 350}, seed=3)


def account_created(emulator: RunningEmulator) -> int:
    return int(emulator.store.account(None).account_object["created"])


def test_the_first_request_asks_for_a_full_page_of_the_streams_whole_time_range(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    before = to_unix(datetime.now(UTC))
    read(source, source_config(stripe_emulator), catalog_for(["customer"]))
    first = list_calls(stripe_emulator, "/v1/customers")[0].params
    assert first["limit"] == "100"
    assert "starting_after" not in first
    assert int(first["created"]["gte"]) == account_created(stripe_emulator)
    assert before <= int(first["created"]["lt"]) <= to_unix(datetime.now(UTC))


def test_a_stream_is_read_page_by_page_with_a_checkpoint_after_each_page(
    source: StripeSource, customers_350: RunningEmulator
) -> None:
    messages = read(source, source_config(customers_350, max_concurrency=1), catalog_for(["customer"]))
    assert Counter(ids(messages)) == Counter(live_ids(customers_350, "customer"))
    calls = list_calls(customers_350, "/v1/customers")
    assert len(calls) == 4  # 350 objects, pages of 100
    assert [call.params.get("starting_after") for call in calls[1:]] == [
        data[-1]["id"] for data in _pages(messages, "customer")[:-1]
    ]
    assert len(stream_states(messages, "customer")) == len(calls)  # one checkpoint per page...
    kinds = [m.type for m in messages if m.type == "record" or m.type == "source_state"]
    assert kinds[-1] == "source_state"  # ...each after its page's records
    final = stream_states(messages, "customer")[-1]
    assert final["remaining"] == []
    assert final["listed"] == 350
    status = statuses(messages, "customer")
    assert status[0] == "start"
    assert status[-1] == "complete"
    assert "range_complete" in status


def _pages(messages: list, stream: str) -> list[list[dict]]:  # type: ignore[type-arg]
    pages: list[list[dict]] = [[]]  # type: ignore[type-arg]
    for m in messages:
        if m.type == "record" and m.record.stream == stream:
            pages[-1].append(m.record.data)
        elif m.type == "source_state" and pages[-1]:
            pages.append([])
    return [page for page in pages if page]


def test_a_resumed_backfill_continues_after_its_cursor_without_re_emitting(
    source: StripeSource, customers_350: RunningEmulator
) -> None:
    config = source_config(customers_350, max_concurrency=1)
    first = read(source, config, catalog_for(["customer"]))
    cut = next(
        i for i, m in enumerate(first) if m.type == "source_state" and m.source_state.state_type == "stream"
    )
    checkpoint = fold_state(first[: cut + 1])
    cursor = checkpoint.streams["customer"]["remaining"][0]["cursor"]
    customers_350.requests.clear()
    resumed = read(source, config, catalog_for(["customer"]), checkpoint)
    assert list_calls(customers_350, "/v1/customers")[0].params["starting_after"] == cursor
    before = ids(first[:cut])
    assert not set(before) & set(ids(resumed))
    assert sorted(before + ids(resumed)) == sorted(live_ids(customers_350, "customer"))
    assert stream_states(resumed, "customer")[-1]["listed"] == 350


def test_an_empty_stream_reports_start_range_complete_complete_and_a_final_checkpoint(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    messages = read(source, source_config(stripe_emulator), catalog_for(["account"]))
    assert statuses(messages, "account") == ["start", "range_complete", "complete"]
    assert stream_states(messages, "account")[-1]["remaining"] == []
    assert records(messages) == []


def test_a_finished_stream_whose_range_did_not_move_reports_start_and_complete_only(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    """Reference bug #15: a finished stream emitted nothing and stayed `not_started`."""
    frozen = OpenTimeRange(lt=datetime(2026, 6, 1, tzinfo=UTC))
    catalog = catalog_for(["customer"], time_range=frozen)
    config = source_config(stripe_emulator)
    state = fold_state(read(source, config, catalog))
    again = read(source, config, catalog, state)
    assert statuses(again, "customer") == ["start", "complete"]
    assert records(again) == []
    assert stream_states(again, "customer") == []


def test_a_dense_stream_is_split_into_ranges_read_concurrently_without_gaps(
    source: StripeSource, stripe_emulator_factory: EmulatorFactory
) -> None:
    emulator = stripe_emulator_factory(objects=0, counts={"customer": 3_000}, seed=11)
    messages = read(source, source_config(emulator, max_concurrency=8), catalog_for(["customer"]))
    assert Counter(ids(messages)) == Counter(live_ids(emulator, "customer"))
    ranges = {
        (c.params["created"]["gte"], c.params["created"]["lt"]) for c in list_calls(emulator, "/v1/customers")
    }
    assert len(ranges) > 4
    final = stream_states(messages, "customer")[-1]
    completed = merge_ranges(
        [
            m.stream_status.range_complete
            for m in messages
            if m.type == "stream_status" and m.stream_status.status == "range_complete"
        ]
    )
    accounted = final["accounted_range"]
    assert [(iso(r.gte), iso(r.lt)) for r in completed] == [(accounted["gte"], accounted["lt"])]


@pytest.mark.parametrize(("objects", "most_requests"), [(100, 1), (150, 3), (1_000, 15)])
def test_a_stream_is_split_only_as_far_as_its_pages_show_it_is_dense(
    stripe_emulator_factory: EmulatorFactory, objects: int, most_requests: int
) -> None:
    """At 80 requests/s and 300 ms per request the rate limit could keep 30 ranges busy, but
    every range ends with a part-filled page: a small stream must not be cut up before its
    pages show there is more to read (the earlier policy spent 17 requests on 150 objects)."""
    emulator = stripe_emulator_factory(objects=0, counts={"customer": objects}, seed=3)
    emulator.set_faults(latency_ms=300)
    config = source_config(emulator, rate_limit=80)
    messages = read(StripeSource(clock=InstantClock()), config, catalog_for(["customer"]))
    assert Counter(ids(messages)) == Counter(live_ids(emulator, "customer"))
    assert len(list_calls(emulator, "/v1/customers")) <= most_requests


def test_a_stream_that_cannot_filter_by_created_never_sends_created(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    messages = read(
        source, source_config(stripe_emulator), catalog_for(["payment_method", "reporting_report_type"])
    )
    assert all("created" not in call.params for call in list_calls(stripe_emulator, "/v1/payment_methods"))
    assert Counter(ids(messages, "payment_method")) == Counter(live_ids(stripe_emulator, "payment_method"))
    report_types = list_calls(stripe_emulator, "/v1/reporting/report_types")
    assert [call.params for call in report_types] == [{}]  # no pagination: one request, no parameters
    assert statuses(messages, "reporting_report_type")[-1] == "complete"


def test_a_second_run_of_an_unfilterable_stream_reads_only_the_new_time(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    config = source_config(stripe_emulator)
    first = read(source, config, catalog_for(["payment_method"]))
    created = stripe_emulator.create("payment_method", {"created": to_unix(datetime.now(UTC)) + 5})
    later = datetime.fromtimestamp(to_unix(datetime.now(UTC)) + 10, UTC)
    second = read(
        source, config, catalog_for(["payment_method"], time_range=OpenTimeRange(lt=later)), fold_state(first)
    )
    assert ids(second) == [created.object["id"]]


def test_with_max_concurrency_one_streams_run_strictly_one_after_another(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    names = ["customer", "invoice", "charge"]
    messages = read(source, source_config(stripe_emulator, max_concurrency=1), catalog_for(names))
    order = [
        m.record.stream if m.type == "record" else m.stream_status.stream
        for m in messages
        if m.type in ("record", "stream_status")
    ]
    assert [name for name, _ in _runs(order)] == names


def _runs(items: list[str]) -> list[tuple[str, int]]:
    runs: list[tuple[str, int]] = []
    for item in items:
        if runs and runs[-1][0] == item:
            runs[-1] = (item, runs[-1][1] + 1)
        else:
            runs.append((item, 1))
    return runs


def test_backfill_limit_lists_exactly_that_many_of_the_newest_objects(
    source: StripeSource, customers_350: RunningEmulator
) -> None:
    messages = read(source, source_config(customers_350), catalog_for(["customer"], backfill_limit=150))
    newest = [obj["id"] for obj in customers_350.objects("customer")[:150]]
    assert ids(messages) == newest
    final = stream_states(messages, "customer")[-1]
    assert final["remaining"] == []
    assert final["listed"] == 150
    assert statuses(messages, "customer")[-1] == "complete"
    customers_350.requests.clear()
    later = read(
        source,
        source_config(customers_350),
        catalog_for(["customer"], backfill_limit=150),
        fold_state(messages),
    )
    assert ids(later) == []
    assert list_calls(customers_350, "/v1/customers") == []
    capped = read(source, source_config(customers_350, backfill_limit=30), catalog_for(["customer"]))
    assert len(ids(capped)) == 30


def test_cut_short_nested_lists_are_fetched_completely(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    messages = read(source, source_config(stripe_emulator), catalog_for(["invoice"]))
    client = stripe_emulator.client()
    long_ones = [obj for obj in stripe_emulator.objects("invoice") if obj["lines"]["has_more"]]
    assert long_ones
    by_id = {data["id"]: data for data in records(messages)}
    for invoice in long_ones:
        lines = by_id[invoice["id"]]["lines"]
        expected = client.v1.invoices.line_items.list(invoice["id"], {"limit": 100})
        assert lines["has_more"] is False
        assert [line["id"] for line in lines["data"]] == [line.id for line in expected.data]


def test_canceled_subscriptions_are_listed_too(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    messages = read(source, source_config(stripe_emulator), catalog_for(["subscription"]))
    assert all(
        call.params.get("status") == "all" for call in list_calls(stripe_emulator, "/v1/subscriptions")
    )
    listed = records(messages)
    assert any(data["status"] == "canceled" for data in listed)
    assert Counter(ids(messages)) == Counter(
        live_ids(stripe_emulator, "subscription") | _canceled(stripe_emulator)
    )


def _canceled(emulator: RunningEmulator) -> set[str]:
    client = emulator.client()
    return {
        s.id for s in client.v1.subscriptions.list({"status": "canceled", "limit": 100}).auto_paging_iter()
    }


def test_records_carry_the_account_and_when_that_version_was_current(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    started = to_unix(datetime.now(UTC))
    messages = read(source, source_config(stripe_emulator), catalog_for(["customer", "product"]))
    for data in records(messages, "customer"):  # no `updated`: the page's Date header
        assert data["_account_id"] == stripe_emulator.account_id
        assert started - 1 <= data["_updated_at"] <= to_unix(datetime.now(UTC)) + 1
    for data in records(messages, "product"):  # `updated` wins where the object has one
        assert data["_updated_at"] == data["updated"]


def test_checkpoints_share_nothing_with_the_running_backfill(
    source: StripeSource, stripe_emulator_factory: EmulatorFactory
) -> None:
    """Reference bug #4: a checkpoint shared ranges that later pages mutated. Here a consumer may
    scribble over every checkpoint it receives and the backfill still ends right."""
    emulator = stripe_emulator_factory(objects=0, counts={"customer": 1_200}, seed=5)
    config = source_config(emulator, max_concurrency=4)
    messages: list[Message] = []
    copies: list[dict[str, Any]] = []

    async def scribble() -> None:
        async for message in source.read(config, catalog_for(["customer"]), None):
            messages.append(message)
            if message.type == "source_state" and message.source_state.state_type == "stream":
                data = message.source_state.data
                copies.append(copy.deepcopy(data))
                data["remaining"].clear()
                data["accounted_range"]["gte"] = "1970-01-01T00:00:00Z"
                data["listed"] = -1

    asyncio.run(scribble())
    assert Counter(ids(messages)) == Counter(live_ids(emulator, "customer"))
    assert all(copy["accounted_range"]["gte"] != "1970-01-01T00:00:00Z" for copy in copies)
    assert [copy["listed"] for copy in copies] == sorted(copy["listed"] for copy in copies)
    assert copies[-1]["listed"] == 1_200
    assert copies[-1]["remaining"] == []


def test_a_backfill_sets_the_events_cursor_to_its_start_and_keeps_other_global_keys(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    started = to_unix(datetime.now(UTC))
    prior = SourceState.model_validate(
        {"streams": {}, "global": {"last_event": {"id": "evt_1", "created": 1}}}
    )
    messages = read(source, source_config(stripe_emulator), catalog_for(["coupon"]), prior)
    (first,) = global_states(messages)
    assert first["last_event"] == {"id": "evt_1", "created": 1}
    assert started <= first["events_cursor"] <= to_unix(datetime.now(UTC))
    again = read(source, source_config(stripe_emulator), catalog_for(["coupon"]), fold_state(messages, prior))
    assert global_states(again) == []  # an existing cursor is left alone


def test_only_objects_created_inside_the_time_range_are_listed(
    source: StripeSource, customers_350: RunningEmulator
) -> None:
    created = sorted(obj["created"] for obj in customers_350.objects("customer"))
    gte, lt = created[50], created[300]
    window = OpenTimeRange(gte=datetime.fromtimestamp(gte, UTC), lt=datetime.fromtimestamp(lt, UTC))
    messages = read(source, source_config(customers_350), catalog_for(["customer"], time_range=window))
    inside = {obj["id"] for obj in customers_350.objects("customer") if gte <= obj["created"] < lt}
    assert Counter(ids(messages)) == Counter(inside)
    start = next(m.stream_status for m in messages if m.type == "stream_status")
    assert start.time_range == window


def test_records_hold_plain_json_values_not_the_sdks_ordered_dicts(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    """Destinations type-check values on their fast paths; an OrderedDict would miss every one."""
    messages = read(source, source_config(stripe_emulator), catalog_for(["customer", "invoice"]))

    def kinds(value: Any) -> set[type]:
        if isinstance(value, dict):
            return {type(value)} | {kind for item in value.values() for kind in kinds(item)}
        if isinstance(value, list):
            return {list} | {kind for item in value for kind in kinds(item)}
        return set()

    found = set().union(*(kinds(data) for data in records(messages)))
    assert dict in found
    assert not any(kind is not dict and issubclass(kind, dict) for kind in found)
