"""No two different versions of an object tie silently: objects changed several times within one
second reach PostgreSQL as Stripe has them, whatever the order and batching of their events, as
webhooks, an events poll or a reconcile (property-tested through the real engine)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from sync_platform.emulator import RunningEmulator, ScriptedFailure
from sync_platform.protocol import Message, SourceState, SyncMode
from sync_platform.sources.stripe import StripeSource, stream_by_name
from sync_platform.sources.stripe.event_records import EventRecord
from sync_platform.sources.stripe.versions import (
    CLOSE_MARGIN,
    FETCHED_LEAD,
    MEMORY_SECONDS,
    Version,
    VersionMemory,
    tied_second,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.sources.stripe.conftest import (
    InstantClock,
    catalog_for,
    fold_state,
    pushed,
    read,
    records,
    source_config,
)
from sync_platform_tests.sources.stripe.same_second import (
    COUNTS,
    STREAMS,
    Change,
    Mode,
    Scenario,
    run_scenario,
)

EXAMPLES = 12


@st.composite
def scenarios(draw: st.DrawFn, mode: Mode) -> Scenario:
    """1-4 objects, each changed 1-3 times (and maybe deleted or canceled last), interleaved; the
    changes fall in one second, or the later ones in the next."""
    objects = draw(
        st.lists(
            st.tuples(st.sampled_from(STREAMS), st.integers(0, COUNTS[STREAMS[0]] - 1)),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    updates = [draw(st.integers(1, 3)) for _ in objects]
    deleted = [draw(st.booleans()) for _ in objects]
    slots = [target for target, count in enumerate(updates) for _ in range(count + deleted[target])]
    interleaving = draw(st.permutations(slots))
    numbers = dict.fromkeys(range(len(objects)), 0)
    next_second = draw(st.none() | st.integers(1, len(slots)))
    changes = []
    for position, target in enumerate(interleaving):
        numbers[target] += 1
        last = numbers[target] == updates[target] + deleted[target]
        value = draw(st.integers(0, 99))
        delete = deleted[target] and last
        changes.append(Change(target, numbers[target], value, delete, next_second=position == next_second))
    events = len(changes)
    scenario = Scenario(objects, changes)
    if mode == "poll":
        scenario.listed_first = draw(st.integers(0, events))
    else:
        scenario.order = draw(st.permutations(range(events)))
        scenario.cuts = draw(st.lists(st.integers(0, events), max_size=3))
        if mode == "webhooks":
            pairs = st.tuples(st.integers(0, events), st.integers(0, events - 1))
            scenario.redeliveries = draw(st.lists(pairs, max_size=2))
        else:
            scenario.delivered = draw(st.integers(0, events))
    return scenario


@pytest.mark.parametrize("mode", ["webhooks", "poll", "reconcile"])
def test_objects_changed_within_one_second_end_as_stripe_has_them(
    mode: Mode, pg: PgTestDatabase, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    emulator = stripe_emulator_factory(objects=0, counts=COUNTS, seed=5)
    schemas = itertools.count()

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(scenario=scenarios(mode))
    def check(scenario: Scenario) -> None:
        schema = f"{pg.schema}_{next(schemas)}"
        try:
            assert run_scenario(emulator, pg.url, schema, mode, scenario) == {}
        finally:
            with pg.connect() as connection:
                connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))

    check()


# --- the rule, case by case (source level: records, stamps and requests) -------------------------

PUSHED = ["customer", "invoice", "product"]


def _push(
    source: StripeSource, emulator: RunningEmulator, *events: dict[str, Any], state: SourceState | None = None
) -> list[Message]:
    config = source_config(emulator, account_id=emulator.account_id)
    return read(source, config, catalog_for(PUSHED), state, pushed(*events))


def _fetches(emulator: RunningEmulator) -> list[str]:
    """The single-object GETs the source made (``/v1/customers/cus_…``)."""
    return [
        entry.path
        for entry in emulator.requests.entries()
        if entry.method == "GET" and entry.path.count("/") == 3 and not entry.path.startswith("/v1/events")
    ]


def _stamps(messages: list[Message]) -> list[tuple[str, float, bool]]:
    return [
        (m.record.data["id"], m.record.data["_updated_at"], bool(m.record.record_deleted))
        for m in messages
        if m.type == "record"
    ]


def test_one_version_per_object_and_second_costs_no_request(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    customers = stripe_emulator.objects("customer")[:2]
    with stripe_emulator.same_second(stripe_emulator.now() - 100) as second:
        first = stripe_emulator.update("customer", customers[0]["id"], {"name": "a"}).event
        other = stripe_emulator.update("customer", customers[1]["id"], {"name": "b"}).event
    with stripe_emulator.same_second(second + 1):
        later = stripe_emulator.update("customer", customers[0]["id"], {"name": "c"}).event
    stripe_emulator.requests.clear()
    messages = _push(source, stripe_emulator, later, first, other)  # out of order, one batch
    assert _stamps(messages) == [
        (customers[0]["id"], second + 1.5, False),
        (customers[0]["id"], second + 0.5, False),  # loses to the later second's version
        (customers[1]["id"], second + 0.5, False),
    ]
    assert stripe_emulator.requests.entries() == []


def test_identical_snapshots_of_one_second_are_not_a_tie(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    invoice = stripe_emulator.objects("invoice")[0]
    with stripe_emulator.same_second(stripe_emulator.now() - 100):
        paid = stripe_emulator.update(
            "invoice", invoice["id"], {"description": "x"}, event_type="invoice.paid"
        )
        succeeded = stripe_emulator.update(
            "invoice", invoice["id"], {}, event_type="invoice.payment_succeeded"
        )
    assert paid.object == succeeded.object
    stripe_emulator.requests.clear()
    messages = _push(source, stripe_emulator, succeeded.event, paid.event)
    assert len(records(messages)) == 2
    assert _fetches(stripe_emulator) == []


def test_two_versions_of_one_second_in_a_batch_are_written_once_as_fetched(
    source: StripeSource, instant_clock: InstantClock, stripe_emulator: RunningEmulator
) -> None:
    customer = stripe_emulator.objects("customer")[0]
    with stripe_emulator.same_second(stripe_emulator.now() - 100) as second:
        older = stripe_emulator.update("customer", customer["id"], {"name": "zz older"}).event
        newer = stripe_emulator.update("customer", customer["id"], {"name": "aa newer"}).event
    stripe_emulator.requests.clear()
    messages = _push(source, stripe_emulator, newer, older)
    (data,) = records(messages)
    assert data["name"] == "aa newer"
    assert data["_updated_at"] == second + FETCHED_LEAD  # above both events' second + 0.5
    assert _fetches(stripe_emulator) == [f"/v1/customers/{customer['id']}"]  # one per object
    assert instant_clock.slept == []  # the second was long over


def test_a_tie_of_the_current_second_is_fetched_only_once_that_second_is_over(
    source: StripeSource, instant_clock: InstantClock, stripe_emulator: RunningEmulator
) -> None:
    customer = stripe_emulator.objects("customer")[0]
    with stripe_emulator.same_second() as second:  # now
        older = stripe_emulator.update("customer", customer["id"], {"name": "older"}).event
        newer = stripe_emulator.update("customer", customer["id"], {"name": "newer"}).event
    before = time.time()
    _push(source, stripe_emulator, older, newer)
    (waited,) = instant_clock.slept
    assert second + 1 + CLOSE_MARGIN - before - 0.5 <= waited <= second + 1 + CLOSE_MARGIN - before


def test_a_tie_across_pushed_batches_is_found_in_what_the_source_remembers(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    customer = stripe_emulator.objects("customer")[0]
    with stripe_emulator.same_second(stripe_emulator.now() - 100) as second:
        older = stripe_emulator.update("customer", customer["id"], {"name": "zz older"}).event
        newer = stripe_emulator.update("customer", customer["id"], {"name": "aa newer"}).event
    stripe_emulator.requests.clear()
    first = _push(source, stripe_emulator, newer)
    assert _stamps(first) == [(customer["id"], second + 0.5, False)]
    assert _fetches(stripe_emulator) == []
    late = _push(source, stripe_emulator, older, state=fold_state(first))  # the same second, later
    assert _stamps(late) == [(customer["id"], second + FETCHED_LEAD, False)]
    assert records(late)[0]["name"] == "aa newer"
    assert _fetches(stripe_emulator) == [f"/v1/customers/{customer['id']}"]
    # A third version of that second needs no fetch: the fetched one already beats them all.
    stripe_emulator.requests.clear()
    again = _push(source, stripe_emulator, older, state=fold_state(late, fold_state(first)))
    assert _stamps(again) == [(customer["id"], second + 0.5, False)]
    assert _fetches(stripe_emulator) == []


def test_a_pushed_event_older_than_what_the_source_remembers_is_fetched(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    customers = stripe_emulator.objects("customer")[:2]
    base = stripe_emulator.now() - 10_000
    with stripe_emulator.same_second(base):
        retried = stripe_emulator.update("customer", customers[0]["id"], {"name": "retried"}).event
    with stripe_emulator.same_second(base + MEMORY_SECONDS + 1):
        recent = stripe_emulator.update("customer", customers[1]["id"], {"name": "recent"}).event
    first = _push(source, stripe_emulator, recent)
    assert fold_state(first).global_["recent_versions"]["since"] == base + 1  # memory starts there
    stripe_emulator.requests.clear()
    late = _push(source, stripe_emulator, retried, state=fold_state(first))  # a retried delivery
    assert _stamps(late) == [(customers[0]["id"], base + FETCHED_LEAD, False)]
    assert _fetches(stripe_emulator) == [f"/v1/customers/{customers[0]['id']}"]


def test_a_fetch_that_finds_the_object_gone_writes_a_tombstone(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    customer, product = stripe_emulator.objects("customer")[0], stripe_emulator.objects("product")[0]
    with stripe_emulator.same_second(stripe_emulator.now() - 100) as second:
        events = [stripe_emulator.update("customer", customer["id"], {"name": n}).event for n in "ab"]
        events += [stripe_emulator.update("product", product["id"], {"name": n}).event for n in "ab"]
    stripe_emulator.delete("customer", customer["id"])  # answers {"deleted": true}
    stripe_emulator.set_faults(
        scripted=[ScriptedFailure(path=f"/v1/products/{product['id']}", status=404, code="resource_missing")]
    )
    assert _stamps(_push(source, stripe_emulator, *events)) == [
        (customer["id"], second + FETCHED_LEAD, True),
        (product["id"], second + FETCHED_LEAD, True),  # product has `updated`: the same rule
    ]


def test_a_poll_compares_a_late_listed_event_with_its_applied_siblings(
    source: StripeSource, stripe_emulator: RunningEmulator
) -> None:
    customer = stripe_emulator.objects("customer")[0]
    config = source_config(stripe_emulator, account_id=stripe_emulator.account_id)
    catalog = catalog_for(["customer"], mode=SyncMode.INCREMENTAL)
    with stripe_emulator.same_second(stripe_emulator.now() - 5) as second:  # within the overlap
        stripe_emulator.update("customer", customer["id"], {"name": "zz first"})
        with stripe_emulator.unlisted_events():
            stripe_emulator.update("customer", customer["id"], {"name": "aa second"})
            start = SourceState.model_validate({"global": {"events_cursor": second - 1}})
            first = read(source, config, catalog, start)
    assert _stamps(first) == [(customer["id"], second + 0.5, False)]  # alone in what was listed
    stripe_emulator.requests.clear()
    again = read(source, config, catalog, fold_state(first, start))
    assert _stamps(again) == [(customer["id"], second + FETCHED_LEAD, False)]
    assert records(again)[0]["name"] == "aa second"
    assert _fetches(stripe_emulator) == [f"/v1/customers/{customer['id']}"]


def test_a_tie_across_pushed_batches_ends_as_stripe_has_it_in_postgres(
    pg: PgTestDatabase, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    """The later version sorts lower: PostgreSQL's content tie-break alone would keep the older."""
    emulator = stripe_emulator_factory(objects=0, counts=COUNTS, seed=5)
    later_first = Scenario(
        objects=[("customer", 0)],
        changes=[Change(0, 1, value=9), Change(0, 2, value=1)],
        order=[1, 0],
        cuts=[1],  # two batches: the newer version alone, then the older one
    )
    assert run_scenario(emulator, pg.url, pg.schema, "webhooks", later_first) == {}


# --- what the source remembers for pushed events ---------------------------------------------------


def _record(object_id: str, second: int, digest: str, *, deleted: bool = False) -> EventRecord:
    definition = stream_by_name("customer")
    data = {"id": object_id, "_account_id": "acct_1", "_updated_at": second + 0.5}
    return EventRecord(definition, data, deleted, None, second, digest)


def test_tied_second_needs_two_different_live_versions_of_the_latest_second() -> None:
    assert tied_second([Version(5, "a"), Version(5, "b")]) == 5
    assert tied_second([Version(5, "a"), Version(5, "a")]) is None  # identical snapshots
    assert tied_second([Version(4, "a"), Version(4, "b"), Version(5, "c")]) is None  # 5 orders them
    assert tied_second([Version(5, "a"), Version(5, None)]) is None  # a tombstone wins the second
    assert tied_second([Version(5, "a")], [Version(5, "b")]) == 5  # against what was written
    assert tied_second([Version(5, "a")], [Version(5, None)]) is None  # already fetched
    assert tied_second([Version(5, "a"), Version(5, "b")], [Version(6, "c")]) is None  # newer written
    assert tied_second([Version(5, "a")], late_before=6) == 5  # memory cannot vouch for 5
    assert tied_second([Version(5, "a")], late_before=5) is None


def test_memory_keeps_the_last_version_per_object_for_its_window_and_survives_a_checkpoint() -> None:
    memory = VersionMemory.from_global({})
    assert (memory.since, memory.entries) == (0, {})
    memory.remember([_record("cus_a", 100, "x"), _record("cus_a", 100, "x")], {}, [100])
    memory.remember([_record("cus_b", 100 + MEMORY_SECONDS, "y")], {}, [100 + MEMORY_SECONDS])
    assert memory.known({("customer", "acct_1", "cus_a")}) == {
        ("customer", "acct_1", "cus_a"): [Version(100, "x")]
    }
    memory.remember([_record("cus_c", 101 + MEMORY_SECONDS, "z")], {}, [101 + MEMORY_SECONDS])
    assert memory.since == 101
    assert "customer/acct_1/cus_a" not in memory.entries  # fell behind the window
    restored = VersionMemory.from_global({"recent_versions": memory.to_global()})
    assert (restored.since, restored.latest, restored.entries) == (
        memory.since,
        memory.latest,
        memory.entries,
    )
    assert restored.plan([_record("cus_a", 100, "w")])  # late: fetched
    assert not restored.plan([_record("cus_b", 100 + MEMORY_SECONDS, "y")])  # the same version again


def test_memory_of_a_state_written_before_it_existed_starts_after_the_last_pushed_event() -> None:
    memory = VersionMemory.from_global({"last_event": {"id": "evt_1", "created": 500}, "events_cursor": 7})
    assert memory.since == 501
    assert memory.plan([_record("cus_a", 500, "x")])  # it may tie with what the old code wrote
    assert not memory.plan([_record("cus_a", 501, "x")])
