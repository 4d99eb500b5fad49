"""Backfill properties at scale: exactly once under concurrency, crashes and 429 storms."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Iterator
from contextlib import aclosing
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_platform.emulator import EmulatorConfig, FaultConfig, RunningEmulator, run_emulator
from sync_platform.protocol import Message, SourceState
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.backfill_state import parse_stream_state
from sync_platform_tests.sources.stripe.conftest import (
    InstantClock,
    catalog_for,
    fold_state,
    ids,
    list_calls,
    live_ids,
    read,
    source_config,
    statuses,
)

pytestmark = pytest.mark.slow


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000))
def test_25000_objects_with_same_second_ties_are_each_read_exactly_once_at_concurrency_8(seed: int) -> None:
    config = EmulatorConfig(objects=0, counts={"customer": 25_000}, seed=seed)
    with run_emulator(config) as emulator:
        busiest = Counter(obj["created"] for obj in emulator.objects("customer")).most_common(1)[0][1]
        assert busiest > 1_000  # one second holds more than ten pages
        messages = read(
            StripeSource(clock=InstantClock()),
            source_config(emulator, max_concurrency=8),
            catalog_for(["customer"]),
        )
        assert Counter(ids(messages)) == Counter(live_ids(emulator, "customer"))
        assert statuses(messages, "customer")[-1] == "complete"
        ranges = {_request_key(call.params)[:2] for call in list_calls(emulator, "/v1/customers")}
        assert len(ranges) > 8  # the stream really was read as concurrent ranges


@pytest.fixture(scope="module")
def crash_emulator() -> Iterator[RunningEmulator]:
    with run_emulator(EmulatorConfig(objects=0, counts={"customer": 4_000}, seed=21)) as emulator:
        yield emulator


RangeKey = tuple[int, int, str | None]


def _request_key(params: dict[str, Any]) -> RangeKey:
    return int(params["created"]["gte"]), int(params["created"]["lt"]), params.get("starting_after")


def _ranges(stream_state: Any) -> set[RangeKey]:
    lanes = parse_stream_state(stream_state, platform_account="acct_any").values()
    return {(part.gte, part.lt, part.cursor) for lane in lanes for part in lane.remaining}


async def _read_until(source: StripeSource, config: dict[str, Any], stop_after: int) -> list[Message]:
    seen: list[Message] = []
    async with aclosing(source.read(config, catalog_for(["customer"]), None)) as messages:
        async for message in messages:
            seen.append(message)
            if len(seen) >= stop_after:
                break  # the process dies here: nothing after this message is committed
    return seen


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fraction=st.floats(0.01, 0.99))
def test_a_backfill_killed_anywhere_resumes_from_its_checkpoint_losing_nothing(
    crash_emulator: RunningEmulator, fraction: float
) -> None:
    emulator = crash_emulator
    emulator.requests.clear()
    source = StripeSource(clock=InstantClock())
    config = source_config(emulator, max_concurrency=8)
    first = asyncio.run(_read_until(source, config, stop_after=int(fraction * 4_100)))
    committed = max((i for i, m in enumerate(first) if m.type == "source_state"), default=-1)
    checkpoint = fold_state(first[: committed + 1])
    before = [m.record.data["id"] for m in first[: committed + 1] if m.type == "record"]
    partial = [m.record.data["id"] for m in first[committed + 1 :] if m.type == "record"]
    first_requests = [_request_key(c.params) for c in list_calls(emulator, "/v1/customers")]
    emulator.requests.clear()

    second = read(source, config, catalog_for(["customer"]), checkpoint)
    after = ids(second)
    assert Counter(before + after) == Counter(live_ids(emulator, "customer"))  # nothing lost or doubled
    assert set(after) & set(partial) == set(partial)
    assert len(partial) <= 100

    # Every request of the killed run was for a range some checkpoint showed, and each range left
    # open by the last checkpoint had at most one page fetched: that is all the resume refetches.
    stored = checkpoint.streams.get("customer")
    remaining = _ranges(stored) if stored is not None else set()
    shown = set().union(
        *(
            _ranges(m.source_state.data)
            for m in first
            if m.type == "source_state" and m.source_state.state_type == "stream"
        )
    )
    assert all(key in shown for key in first_requests[1:])  # the first one is the initial range
    refetched = Counter(key for key in first_requests if key in remaining)
    assert all(count <= 1 for count in refetched.values())
    second_requests = {_request_key(c.params) for c in list_calls(emulator, "/v1/customers")}
    assert len(second_requests & set(first_requests)) <= max(1, len(remaining))


def test_a_storm_of_429s_on_half_the_requests_fails_no_stream(
    stripe_emulator_factory: Any,
) -> None:
    emulator = stripe_emulator_factory(
        objects=1_500, seed=8, faults=FaultConfig(error_ratio=0.5, error_status=429, seed=3)
    )
    clock = InstantClock()
    streams = [
        "customer",
        "invoice",
        "charge",
        "payment_intent",
        "subscription",
        "product",
        "price",
        "refund",
    ]
    messages = read(StripeSource(clock=clock), source_config(emulator), catalog_for(streams))
    for stream in streams:
        assert statuses(messages, stream)[-1] == "complete", stream
        assert Counter(ids(messages, stream)) == Counter(live_ids(emulator, stream))
    answered = Counter(entry.status for entry in emulator.requests.entries())
    assert answered[429] > 0.3 * sum(answered.values())
    retry_waits = [seconds for seconds in clock.slept if seconds >= 1]  # pacing waits are far shorter
    assert len(retry_waits) == answered[429]  # each 429 waited at least its Retry-After (1 s)


def test_closing_a_read_cancels_its_requests_in_flight(stripe_emulator: RunningEmulator) -> None:
    stripe_emulator.set_faults(latency_ms=30_000)

    async def start_then_close() -> int:
        source = StripeSource(clock=InstantClock())
        config = source_config(stripe_emulator, account_id=stripe_emulator.account_id, account_created=1)
        streams = ["customer", "invoice", "charge"]
        messages = source.read(config, catalog_for(streams), SourceState())
        started: set[str] = set()
        while started != set(streams):  # the events cursor, then each stream's `start`
            message = await anext(messages)
            if message.type == "stream_status":
                started.add(message.stream_status.stream)
        # The next message waits on the first pages; the emulator holds each request for 30 s.
        waiting = asyncio.ensure_future(anext(messages))
        assert await asyncio.to_thread(stripe_emulator.requests.wait_in_flight, len(streams), 30)
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(messages.aclose(), timeout=5)
        return len([task for task in asyncio.all_tasks() if task is not asyncio.current_task()])

    assert asyncio.run(start_then_close()) == 0
