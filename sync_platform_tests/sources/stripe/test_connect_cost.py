"""Connect at the cost of its data: requests follow pages of data, never accounts x streams x batches.

Each test reads the emulator's request log: what the source asked for is the cost a user pays.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import math
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import httpx
import pytest

from sync_platform.destinations.fixture import EchoDestination
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import ConnectorRegistry, Engine
from sync_platform.engine.registry import BUILTIN_SOURCES
from sync_platform.errors import ConfigError
from sync_platform.protocol import (
    ConfiguredStream,
    DeferredStateData,
    OpenTimeRange,
    PipelineConfig,
    RunStatus,
    SyncState,
    from_unix,
    iso,
)
from sync_platform.sources.stripe import backfill_state, stream_by_name
from sync_platform.sources.stripe.accounts import KNOWN_ACCOUNTS, StripeAccount
from sync_platform.sources.stripe.backfill_plan import StreamPlan, plan_stream
from sync_platform.sources.stripe.backfill_state import SharedParts, dump_stream_state
from sync_platform.sources.stripe.config import parse_config
from sync_platform.sources.stripe.lane_table import UNREAD_RANGES, LaneTable
from sync_platform.sources.stripe.subdivision import Range
from sync_platform_tests.sources.stripe.conftest import catalog_for, list_calls, live_ids, source_config

# customer filters by `created`; quote cannot be filtered but has `created`; payment_link has neither
STREAMS = ["customer", "quote", "payment_link"]


@pytest.fixture
def echo() -> EchoDestination:
    return EchoDestination()


@pytest.fixture
def engine(echo: EchoDestination) -> Engine:
    registry = ConnectorRegistry(
        sources={"stripe": BUILTIN_SOURCES["stripe"]}, destinations={"echo": lambda: echo}
    )
    return Engine(registry)


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=120, connected_accounts=5, connected_objects=120, seed=11)


def pipeline(emulator: RunningEmulator, streams: list[str], **config: object) -> PipelineConfig:
    created = emulator.store.account(None).account_object["created"]
    stripe = source_config(
        emulator,
        account_id=emulator.account_id,
        account_created=created,
        **{"connected_accounts": emulator.connected_account_ids, **config},
    )
    return PipelineConfig.model_validate(
        {
            "source": {"type": "stripe", "stripe": stripe},
            "destination": {"type": "echo", "echo": {}},
            "streams": [{"name": name} for name in streams],
        }
    )


def run(
    engine: Engine, config: PipelineConfig, state: SyncState | None, run_id: str, *, many: bool = False
) -> tuple[SyncState, int]:
    """Every batch of one run (one checkpoint each, so the run takes many batches); the final
    state and the number of batches. ``many``: assert the run really was cut into many batches
    (a later run that starts in the second the previous one ended has nothing to list)."""
    batches = 0
    while True:
        eof = asyncio.run(engine.sync_batch(config, state=state, run_id=run_id, state_limit=1))
        assert eof.status is not RunStatus.FAILED, eof.error
        assert eof.ending_state is not None
        state, batches = eof.ending_state, batches + 1
        if not eof.has_more:
            assert batches > 10 or not many
            return state, batches


def gets(emulator: RunningEmulator) -> Counter[tuple[str, str | None]]:
    return Counter((e.path, e.account) for e in emulator.requests.entries() if e.method == "GET")


def test_a_run_in_many_batches_lists_each_account_stream_once_and_looks_each_account_up_once(
    engine: Engine, echo: EchoDestination, platform: RunningEmulator
) -> None:
    """Streams with and without `created` filters: a lane that completed is never listed again in
    a later batch of the run, and `/v1/account` is asked once per connected account, ever.

    The engine ends a batch at the first data message after its last checkpoint, so the page
    fetched for that message is fetched again by the next batch: one request per batch, at most
    ``max_concurrency``, here one. The old design listed every lane without `created` again in
    every batch."""
    config = pipeline(platform, STREAMS, connected_streams="all", max_concurrency=1)
    state, batches = run(engine, config, None, "run-1", many=True)
    accounts = [None, *platform.connected_account_ids]
    requests = gets(platform)
    lists = {stream_by_name(name).list_path for name in STREAMS}
    for path in lists:
        for account in accounts:
            assert 1 <= requests[(path, account)] <= 2, (path, account)  # each lane holds one page
    listed = sum(n for (path, _), n in requests.items() if path in lists)
    assert listed <= len(lists) * len(accounts) + batches
    assert {account for path, account in requests if path == "/v1/account"} == set(accounts[1:])
    assert all(requests[("/v1/account", a)] == 1 for a in accounts[1:])
    assert set(state.source.global_[KNOWN_ACCOUNTS]) == set(accounts[1:])
    expected = Counter(
        (name, object_id)
        for name in STREAMS
        for account in accounts
        for object_id in live_ids(platform, name, account_id=account)
    )
    assert (
        Counter((m.record.stream, m.record.data["id"]) for m in echo.received if m.type == "record")
        == expected
    )

    # A run that starts in the second the first one ended has no new time to list at all: start
    # the second run in a later second, so it has a window to list.
    next_second = math.floor(state.sync_run.time_ceiling.timestamp()) + 1
    while time.time() < next_second:
        time.sleep(0.02)
    platform.requests.clear()
    run(engine, config, state, "run-2")  # a later run lists only its new time, once per lane
    again = gets(platform)
    assert not any(path == "/v1/account" for path, _ in again)
    assert {key for key in again if key[0] in lists} == {(p, a) for p in lists for a in accounts}
    assert max(again.values()) <= 2


def test_connected_accounts_read_only_their_stream_set(engine: Engine, platform: RunningEmulator) -> None:
    """Streams outside `connected_streams` cost connected accounts nothing; the platform reads all."""
    config = pipeline(platform, ["customer", "coupon"], connected_streams=["customer"])
    run_once = asyncio.run(engine.sync_batch(config, state=None, run_id="r", state_limit=None))
    assert run_once.status is RunStatus.SUCCEEDED
    requests = gets(platform)
    assert requests[("/v1/coupons", None)] == 1
    assert not any(path == "/v1/coupons" and account for path, account in requests)
    assert all(requests[("/v1/customers", a)] == 1 for a in platform.connected_account_ids)


def test_a_connect_read_never_copies_its_lanes_counts_as_lanes_finish(
    engine: Engine, echo: EchoDestination, platform: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Page snapshots read finished lanes' counts from the lane table itself, which moves to a copy
    of its own only if a lane with no ranges left is given another count. A read counts a page's
    objects while its lane is still open, so no lane finishing costs a copy of every count (80 KB a
    stream at 10,000 accounts, per lane finished); the rows are all there."""
    copies: list[int] = []
    write = LaneTable._before_write

    def counting(table: LaneTable, position: int) -> None:
        lent = table.listed
        write(table, position)
        if table.listed is not lent:
            copies.append(position)

    monkeypatch.setattr(LaneTable, "_before_write", counting)
    config = pipeline(platform, STREAMS, connected_streams="all", max_concurrency=4)
    eof = asyncio.run(engine.sync_batch(config, state=None, run_id="r", state_limit=None))
    assert eof.status is RunStatus.SUCCEEDED, eof.error
    records = [m for m in echo.received if m.type == "record"]
    assert len(records) > 6 * len(STREAMS)  # every lane read, most of them over several pages
    assert copies == []


def test_the_default_connected_stream_set_leaves_rare_products_out() -> None:
    config = parse_config({"api_key": "sk_test_abc"})
    assert config.reads_for_connected("charge")
    assert not config.reads_for_connected("issuing_card")
    assert parse_config({"api_key": "sk_test_abc", "connected_streams": "all"}).reads_for_connected("quote")


def test_an_unknown_connected_stream_is_a_config_error_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"connected_streams.*Did you mean 'customer'"):
        parse_config({"api_key": "sk_test_abc", "connected_streams": ["customers"]})


def test_a_checkpoint_after_one_accounts_page_equals_one_rendered_from_scratch() -> None:
    """Only the changed lane is rendered again, and the result is the full checkpoint."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(4)]
    configured = catalog_for(["customer"]).streams[0]
    plan, _ = plan_stream(
        stream_by_name("customer"), configured, None, accounts, now=1_700_000_000, backfill_limit=None
    )
    first = plan.checkpoint()
    emitted = copy.deepcopy(first)
    lane = plan.lanes["acct_2"]
    (part,) = lane.remaining
    lane.remaining = (Range(part.gte, part.gte + 500, "cus_x"), Range(part.gte + 500, part.lt))
    lane.listed += 7
    second = plan.checkpoint(changed=("acct_2",))
    assert second == dump_stream_state(plan.lanes, tagged=True, since_creation=True)
    assert second != first
    assert first == emitted  # a later page never changes a checkpoint already emitted (bug #4)
    lane.remaining = ()
    lane.listed += 3
    third = plan.checkpoint(changed=("acct_2",))
    assert third == dump_stream_state(plan.lanes, tagged=True, since_creation=True)
    assert second["accounts"]["acct_2"]["listed"] == 7
    assert second["remaining"] != third["remaining"]


@pytest.mark.parametrize("saved", ["in memory", "as JSON"])
def test_a_plan_from_a_stored_checkpoint_renders_it_again_exactly_and_never_changes_it(saved: str) -> None:
    """Planned from a stored checkpoint (the previous batch's in memory, or a new run's loaded
    from JSON), the plan's checkpoint is the stored one until a lane moves; a lane that moves
    gets new parts, and the stored checkpoint stays as it was loaded (the engine holds it until
    the stream checkpoints again)."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(4)]
    configured = catalog_for(["customer"]).streams[0]
    first, _ = plan_stream(
        stream_by_name("customer"), configured, None, accounts, now=1_700_000_000, backfill_limit=None
    )
    first.lanes["acct_1"].remaining = (Range(1_600_000_001, 1_650_000_000, "cus_y"),)
    first.lanes["acct_1"].listed = 100
    first.lanes["acct_3"].remaining = ()
    first.lanes["acct_3"].listed = 3
    stored = first.checkpoint()  # as the previous batch of the run saved it
    if saved == "as JSON":
        stored = json.loads(json.dumps(stored))  # as a new run's first batch loads it
    loaded = copy.deepcopy(stored)

    plan, _ = plan_stream(
        stream_by_name("customer"), configured, stored, accounts, now=1_700_000_000, backfill_limit=None
    )
    checkpoint = plan.checkpoint(changed=())
    assert checkpoint == stored == dump_stream_state(plan.lanes, tagged=True, since_creation=True)
    assert stored["accounts"]["acct_3"] == 3  # finished over its account's window: the count alone
    assert list(checkpoint["accounts"]) == ["acct_1", "acct_3"]  # the accounts' order, unread left out

    lane = plan.lanes["acct_1"]
    lane.remaining = (Range(1_600_000_001, 1_640_000_000, "cus_z"),)
    lane.listed += 100
    after = plan.checkpoint(changed=("acct_1",))
    assert after == dump_stream_state(plan.lanes, tagged=True, since_creation=True)
    assert after["accounts"]["acct_1"] is not stored["accounts"]["acct_1"]
    assert after["accounts"]["acct_1"]["listed"] == 200
    assert after["remaining"] == [
        {
            "account": "acct_1",
            "gte": iso(from_unix(1_600_000_001)),
            "lt": iso(from_unix(1_640_000_000)),
            "cursor": "cus_z",
        }
    ]
    assert after["accounts"]["acct_3"] == 3
    assert "acct_2" not in after["accounts"]  # not read yet: named under `unread`
    assert after["unread"] == ["acct_0", "acct_2"]
    assert stored == loaded  # never written to


STREAM_PAIR = ["customer", "charge"]


START = from_unix(1_500_000_000)  # a configured start: every lane's window begins there, not at its account's


def _read_plans(
    accounts: list[StripeAccount], stored: list[object], shared: SharedParts, *, start: datetime | None = None
) -> list[StreamPlan]:
    """One read's plans of ``STREAM_PAIR`` (from ``stored``, a state per stream), sharing ``shared``;
    ``start`` is the streams' configured start."""
    catalog = catalog_for(STREAM_PAIR, time_range=OpenTimeRange(gte=start) if start else None).streams
    return [
        plan_stream(
            stream_by_name(name),
            configured,
            state,
            accounts,
            now=1_700_000_000,
            backfill_limit=None,
            shared=shared,
        )[0]
        for name, configured, state in zip(STREAM_PAIR, catalog, stored, strict=True)
    ]


def test_the_streams_of_an_account_share_their_unread_lanes_and_progress_apart() -> None:
    """One read's plans share what every stream of an account repeats before its first page (the
    accounts, the windows; an unread lane holds nothing of its own: ~900 -> ~60 bytes a lane at
    10,000 accounts); a page of
    one stream changes only that stream's checkpoint, never one already emitted (bug #4)."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(3)]
    plans = _read_plans(accounts, [None, None], SharedParts())
    customers, charges = (plan.checkpoint() for plan in plans)
    emitted = copy.deepcopy(charges)
    assert customers["accounts"] == charges["accounts"] == {}  # no lane read yet: only their accounts
    assert customers["remaining"] == charges["remaining"] == []
    assert customers["unread"] == charges["unread"] == ["acct_0", "acct_1", "acct_2"]
    # an unread lane holds no ranges of its own: they are its window's, made when asked for
    assert [plan.lanes.remaining for plan in plans] == [[UNREAD_RANGES] * 3] * 2
    assert (
        plans[0].lanes["acct_1"].remaining
        == plans[1].lanes["acct_1"].remaining
        == (Range(1_600_000_001, 1_700_000_000),)
    )
    # a read's lanes are columns, and its streams share the accounts' order and windows
    assert plans[0].lanes.accounts is plans[1].lanes.accounts
    assert plans[0].lanes.windows is plans[1].lanes.windows

    lane = plans[0].lanes["acct_1"]
    (part,) = lane.remaining
    lane.remaining = (Range(part.gte, part.gte + 500, "cus_x"),)
    lane.listed += 100
    after = plans[0].checkpoint(changed=("acct_1",))
    assert after == dump_stream_state(plans[0].lanes, tagged=True, since_creation=True)
    dumped = dump_stream_state(plans[1].lanes, tagged=True, since_creation=True)
    assert plans[1].checkpoint(changed=()) == dumped == emitted
    assert charges == emitted
    assert plans[1].lanes["acct_1"].remaining == (part,)


def _platform_with_accounts(count: int) -> list[StripeAccount]:
    """The platform and ``count`` connected accounts, created a second apart."""
    return [StripeAccount("acct_platform", 1_500_000_000, None)] + [
        StripeAccount(f"acct_{i:016d}", 1_600_000_000 + i, f"acct_{i:016d}") for i in range(count)
    ]


def _planned(
    accounts: list[StripeAccount], names: list[str], catalog: Sequence[ConfiguredStream]
) -> list[StreamPlan]:
    """One read's plans of ``names`` (their configured ``catalog``) for ``accounts``, sharing their
    parts, as the source plans them."""
    shared = SharedParts()
    return [
        plan_stream(
            stream_by_name(n), c, None, accounts, now=1_700_000_000, backfill_limit=None, shared=shared
        )[0]
        for n, c in zip(names, catalog, strict=True)
    ]


LANE_BYTES = 52
"""The most a Connect read may hold per lane (account x stream), planned and checkpointed, at
2,000 accounts x 4 streams: 47 bytes now (the lane's columns and its share of the account's),
106 while each account had a ``Window``, a first ``Range`` and their tuple and holder, 116 while
each page's snapshot copied the lanes' counts, 148 unread and 164 finished while the rendering
kept an entry and ranges per lane."""


@contextmanager
def _traced_read(
    accounts: list[StripeAccount], names: list[str]
) -> Iterator[tuple[list[StreamPlan], list[DeferredStateData]]]:
    """``names`` planned for ``accounts`` with each stream's first page snapshot held, under
    ``tracemalloc`` (started after the catalog is made: it is not the read's) until the block ends."""
    catalog = catalog_for(names).streams
    gc.collect()
    tracemalloc.start()
    try:
        plans = _planned(accounts, names, catalog)
        yield plans, [plan.snapshot() for plan in plans]
    finally:
        tracemalloc.stop()


def _traced_bytes() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_a_connect_reads_memory_per_lane_stays_small_unread_and_finished() -> None:
    """Memory grows with accounts x streams, so a lane's share is what keeps a 10,000-account
    platform's run small: planned (every lane unread) and at the end of the read (every lane
    finished, with its count), with each stream's latest page snapshot held as the engine holds
    it, a lane costs at most ``LANE_BYTES``. Only lanes being read have JSON of their own."""
    accounts = _platform_with_accounts(2_000)
    names = ["customer", "charge", "invoice", "payment_intent"]
    lanes = len(accounts) * len(names)
    with _traced_read(accounts, names) as (plans, held):
        unread = _traced_bytes()
        for k, plan in enumerate(plans):
            for i, lane in enumerate(plan.lanes.values()):
                lane.remaining, lane.listed = (), (i * 7 + k) % 40
            held[k] = plan.snapshot(changed=None)
        finished = _traced_bytes()
    assert unread / lanes < LANE_BYTES
    assert finished / lanes < LANE_BYTES
    written = held[0].render()
    assert written["unread"] == []
    assert len(written["accounts"]) == len(accounts)


READ_LANE_BYTES = 48
"""The most a Connect read may still hold per account once each of its lanes was read and
finished, beyond what it held planned (and the date strings' bounded cache): 9 bytes now, 178
while the read kept each window's JSON, made for its lanes' entries while they were being read."""


def test_a_lane_read_since_its_accounts_creation_keeps_no_json_once_finished() -> None:
    """A lane being read has JSON of its own (its entry, naming its window); finished, a lane read
    from its account's creation is only its count. So after every lane was read and finished the
    read holds about what it held planned: nothing made for a lane's reading outlives it."""
    accounts = _platform_with_accounts(2_000)
    with _traced_read(accounts, ["customer", "charge"]) as (plans, held):
        planned = _traced_bytes()
        for k, plan in enumerate(plans):
            for account, lane in plan.lanes.items():
                (part,) = lane.remaining
                lane.remaining, lane.listed = (Range(part.gte, part.gte + 500, "cus_x"),), 100
                held[k] = plan.snapshot(changed=(account,))
                assert account in held[k].render()["accounts"]  # being read: an entry of its own
                lane.remaining = ()
                held[k] = plan.snapshot(changed=(account,))
        backfill_state._iso.cache_clear()  # the date strings' cache: bounded, and apart from any lane
        read = _traced_bytes()
    assert (read - planned) / len(accounts) < READ_LANE_BYTES
    assert held[0].render()["accounts"] == dict.fromkeys((a.id for a in accounts), 100)


def test_an_account_named_twice_has_one_lane_per_stream() -> None:
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(3)]
    plans = _read_plans([*accounts, accounts[1]], [None, None], SharedParts())
    assert [list(plan.lanes) for plan in plans] == [["acct_0", "acct_1", "acct_2"]] * 2
    assert [plan.lanes.open_count() for plan in plans] == [3, 3]


def test_the_streams_of_an_account_that_finished_with_the_same_count_share_its_entry() -> None:
    """With a configured start (a finished lane's window is then not its account's, so its entry
    is an object, not the count), a finished lane's entry never changes again, so the streams of
    an account that listed the same number of objects hold one; a lane still reading has its own,
    and no emitted checkpoint ever changes (bug #4)."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(3)]
    plans = _read_plans(accounts, [None, None], SharedParts(), start=START)
    (part,) = plans[0].lanes["acct_1"].remaining
    reading, done = plans[0].lanes["acct_1"], plans[1].lanes["acct_1"]
    reading.remaining, reading.listed = (Range(part.gte, part.gte + 500, "cus_x"),), 2
    done.remaining, done.listed = (), 2
    during = [plans[0].checkpoint(changed=("acct_1",)), plans[1].checkpoint(changed=("acct_1",))]
    emitted = copy.deepcopy(during)
    assert during[0]["accounts"]["acct_1"] == during[1]["accounts"]["acct_1"]
    assert during[0]["accounts"]["acct_1"] is not during[1]["accounts"]["acct_1"]

    reading.remaining, reading.listed = (), 5
    after = plans[0].checkpoint(changed=("acct_1",))
    assert after == dump_stream_state(plans[0].lanes, tagged=True)
    assert after["accounts"]["acct_1"]["listed"] == 5
    assert after["accounts"]["acct_1"] is not during[1]["accounts"]["acct_1"]  # other counts, apart
    plans[1].lanes["acct_1"].listed = 5
    other = plans[1].checkpoint(changed=("acct_1",))
    assert other["accounts"]["acct_1"] is after["accounts"]["acct_1"]
    assert during == emitted


@pytest.mark.parametrize("saved", ["in memory", "as JSON"])
def test_a_later_batch_shares_the_unread_lanes_again(saved: str) -> None:
    """A batch after the first plans from the checkpoints the first one committed; its unread
    lanes share their parts across streams as the first batch's did (their parsed ranges were a
    tuple and a range per lane and stream: ~8 MiB at 10,000 accounts), and so do the accounts and
    the entries of lanes that finished alike (one object: with a configured start, as without one
    a finished lane's entry is its count)."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(4)]
    first = _read_plans(accounts, [None, None], SharedParts(), start=START)
    lane = first[0].lanes["acct_1"]
    (part,) = lane.remaining
    lane.remaining, lane.listed = (Range(part.gte, part.gte + 500, "cus_x"),), 100
    for plan in first:  # acct_2 finished alike in both streams
        plan.lanes["acct_2"].remaining, plan.lanes["acct_2"].listed = (), 3
    checkpoints = [
        first[0].checkpoint(changed=("acct_1", "acct_2")),
        first[1].checkpoint(changed=("acct_2",)),
    ]
    if saved == "as JSON":
        checkpoints = json.loads(json.dumps(checkpoints))
    shared = SharedParts()
    later = _read_plans(accounts, checkpoints, shared, start=START)
    assert [plan.lanes.remaining[plan.lanes.position["acct_3"]] for plan in later] == [UNREAD_RANGES] * 2
    finished = [plan.checkpoint(changed=())["accounts"]["acct_2"] for plan in later]
    assert finished[0] is finished[1]
    window = later[0].lanes["acct_2"].accounted
    assert shared.entry(window, 3, final=True) is finished[0]  # the read holds no copy of its own
    assert later[0].lanes["acct_1"].remaining == (Range(part.gte, part.gte + 500, "cus_x"),)
    assert later[0].accounts is later[1].accounts
    assert [plan.checkpoint(changed=()) for plan in later] == checkpoints
    assert [checkpoint["unread"] for checkpoint in checkpoints] == [
        ["acct_0", "acct_3"],
        ["acct_0", "acct_1", "acct_3"],
    ]


def test_a_plan_whose_window_moved_shares_nothing_it_does_not_repeat() -> None:
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(3)]
    configured = catalog_for(["customer"]).streams[0]
    first, _ = plan_stream(
        stream_by_name("customer"), configured, None, accounts, now=1_700_000_000, backfill_limit=None
    )
    stored = json.loads(json.dumps(first.checkpoint()))
    plan, _ = plan_stream(
        stream_by_name("customer"), configured, stored, accounts, now=1_700_000_600, backfill_limit=None
    )
    assert plan.changed
    checkpoint = plan.checkpoint(changed=())
    assert checkpoint == dump_stream_state(plan.lanes, tagged=True, since_creation=True)
    assert not any(checkpoint["accounts"][a] is stored["accounts"][a] for a in stored["accounts"])


def test_a_checkpoint_saved_before_counts_and_unread_resumes_exactly_and_is_saved_in_the_new_shape() -> None:
    """Saved by an earlier version, a finished lane is an entry object and an unread one its range
    under `remaining`: the plan resumes from it exactly (nothing finished is read again, nothing
    unread is skipped), and its next checkpoint has counts and `unread`."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(3)]
    now = 1_700_000_000

    def window(account: StripeAccount) -> dict[str, str]:
        return {"gte": iso(from_unix(account.created)), "lt": iso(from_unix(now))}

    reading = {"gte": iso(from_unix(1_600_000_001)), "lt": iso(from_unix(1_650_000_000))}
    old = {
        "accounted_range": {"gte": iso(from_unix(1_600_000_000)), "lt": iso(from_unix(now))},
        "remaining": [
            {"account": "acct_1", **reading, "cursor": "cus_y"},
            {"account": "acct_2", **window(accounts[2]), "cursor": None},
        ],
        "listed": 12,
        "accounts": {
            "acct_0": {"accounted_range": window(accounts[0]), "listed": 5},
            "acct_1": {"accounted_range": window(accounts[1]), "listed": 7},
        },
    }
    configured = catalog_for(["customer"]).streams[0]
    plan, warnings = plan_stream(
        stream_by_name("customer"), configured, old, accounts, now=now, backfill_limit=None
    )

    assert warnings == []
    assert (plan.lanes["acct_0"].remaining, plan.lanes["acct_0"].listed) == ((), 5)
    assert plan.lanes["acct_1"].remaining == (Range(1_600_000_001, 1_650_000_000, "cus_y"),)
    assert plan.lanes["acct_2"].remaining == (Range(1_600_000_002, now),)
    checkpoint = plan.checkpoint(changed=())
    assert checkpoint["accounts"] == {"acct_0": 5, "acct_1": old["accounts"]["acct_1"]}
    assert checkpoint["remaining"] == old["remaining"][:1]
    assert checkpoint["unread"] == ["acct_2"]
    assert checkpoint["listed"] == 12


def _accounts_listing(emulator: RunningEmulator) -> list[dict[str, object]]:
    """The platform's /v1/accounts, every page, as the source's key sees it."""
    listed: list[dict[str, object]] = []
    params: dict[str, object] = {"limit": 100}
    headers = {"Authorization": f"Bearer {emulator.emulator.secret_key}"}
    while True:
        page = httpx.get(f"{emulator.base_url}/v1/accounts", params=params, headers=headers).json()
        listed.extend(page["data"])
        if not page["has_more"]:
            return listed
        params = {"limit": 100, "starting_after": page["data"][-1]["id"]}


def test_a_long_hand_kept_list_is_answered_by_the_accounts_listing_not_one_lookup_each(
    engine: Engine, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    """30 new accounts: one /v1/accounts page gives every creation time (the old way: 30
    `/v1/account` lookups), and the backfills start at each account's own creation."""
    emulator = stripe_emulator_factory(objects=5, connected_accounts=40, connected_objects=3, seed=5)
    chosen = emulator.connected_account_ids[:30]
    created = {a["id"]: a["created"] for a in _accounts_listing(emulator) if a["id"] in chosen}
    assert len(created) == 30
    emulator.requests.clear()
    config = pipeline(emulator, ["customer"], connected_streams="all", connected_accounts=chosen)
    state, _ = run(engine, config, None, "run-1")
    requests = gets(emulator)
    assert requests[("/v1/accounts", None)] == 1
    assert not any(path == "/v1/account" for path, _ in requests)
    assert state.source.global_[KNOWN_ACCOUNTS] == created
    first_asked = {
        a: int(list_calls(emulator, "/v1/customers", account=a)[0].params["created"]["gte"]) for a in chosen
    }
    assert first_asked == created


def test_accounts_the_listing_does_not_reach_within_its_budget_are_looked_up_one_by_one(
    engine: Engine, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    """The listing stops once it has cost as many pages as accounts are still unanswered, so a
    short list of accounts deep in a big platform costs at most twice the lookups."""
    emulator = stripe_emulator_factory(objects=5, connected_accounts=1_500, connected_objects=1, seed=5)
    deepest = [a["id"] for a in _accounts_listing(emulator)[-10:]]
    emulator.requests.clear()
    config = pipeline(emulator, ["customer"], connected_streams=["customer"], connected_accounts=deepest)
    state, _ = run(engine, config, None, "run-1")
    requests = gets(emulator)
    assert requests[("/v1/accounts", None)] == 10  # ten pages for ten unanswered accounts, then stop
    assert {account for path, account in requests if path == "/v1/account"} == set(deepest)
    assert set(state.source.global_[KNOWN_ACCOUNTS]) == set(deepest)


def test_a_plan_with_nothing_to_read_checkpoints_again_only_when_it_was_re_aimed() -> None:
    """A stream whose lanes are all complete emits a checkpoint before it completes only when
    planning changed it (a grown window); a plan with work left is not compared at all (it
    checkpoints after its first page anyway)."""
    accounts = [StripeAccount(f"acct_{i}", 1_600_000_000 + i, f"acct_{i}" if i else None) for i in range(3)]
    configured = catalog_for(["customer"]).streams[0]
    first, _ = plan_stream(
        stream_by_name("customer"), configured, None, accounts, now=1_700_000_000, backfill_limit=None
    )
    assert first.changed  # nothing stored yet
    for lane in first.lanes.values():
        lane.remaining, lane.listed = (), 2
    stored = json.loads(json.dumps(first.checkpoint()))

    same, _ = plan_stream(
        stream_by_name("customer"), configured, stored, accounts, now=1_700_000_000, backfill_limit=None
    )
    assert not same.changed
    assert same.checkpoint() == stored
    narrowed, _ = plan_stream(  # an earlier end: still nothing to read, but a new window
        stream_by_name("customer"), configured, stored, accounts, now=1_699_999_000, backfill_limit=None
    )
    assert not any(lane.remaining for lane in narrowed.lanes.values())
    assert narrowed.changed
    assert narrowed.checkpoint() != stored
