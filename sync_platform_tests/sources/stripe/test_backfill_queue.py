"""The backfill queue of one stream: the order ranges are read in, and what it holds per lane.

A Connect platform's stream has a lane per account; the queue decides which account's range is
fetched next (fairness) and, at 10,000 accounts, must not hold anything for lanes it has not
reached yet (it was the biggest single part of the client's memory).
"""

from __future__ import annotations

from sync_platform.sources.stripe import stream_by_name
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.backfill_plan import StreamPlan, plan_stream
from sync_platform.sources.stripe.backfill_queue import StreamRun
from sync_platform.sources.stripe.subdivision import Range
from sync_platform_tests.sources.stripe.conftest import catalog_for

NOW = 1_700_000_000


def _plan(count: int) -> StreamPlan:
    ids = [f"acct_{i:05d}" for i in range(count)]
    accounts = [StripeAccount(id_, 1_600_000_000 + i, id_ if i else None) for i, id_ in enumerate(ids)]
    configured = catalog_for(["customer"]).streams[0]
    customer = stream_by_name("customer")
    plan, _ = plan_stream(customer, configured, None, accounts, now=NOW, backfill_limit=None)
    return plan


def _read_one_page(run: StreamRun, account: str, part: Range, *, more: tuple[Range, ...] = ()) -> None:
    """What the backfill does with a page: the range replaced by ``more``, the lane settled and
    queued again."""
    lane = run.plan.lanes[account]
    position = lane.remaining.index(part)
    lane.remaining = lane.remaining[:position] + more + lane.remaining[position + 1 :]
    run.settle(account)
    run.queue_lane(account, set())


def test_every_lanes_first_range_is_read_before_any_lanes_next_one() -> None:
    """A huge account takes one turn per round like every tiny one: a range queued again after a
    page waits behind the first range of every other lane."""
    plan = _plan(5)
    run = StreamRun(plan)
    first = run.pop()
    assert first is not None
    account, part = first
    rest = Range(part.gte, part.gte + 1000, "cus_last")
    _read_one_page(run, account, part, more=(Range(part.gte + 1000, part.lt), rest))
    order = []
    while (entry := run.pop()) is not None:
        order.append(entry[0])
    assert order[:4] == list(plan.lanes)[1:]  # the four other accounts first, in plan order
    assert order[4:] == [account, account]  # then the huge account's two parts


def test_a_lane_resumed_on_a_chain_goes_first() -> None:
    """A range walked with its cursor that is too short to split can only be read page after
    page, so it is fetched before any other account's range."""
    plan = _plan(6)
    last = list(plan.lanes)[-1]
    window = plan.lanes[last].accounted
    chain = Range(window.lt - 10, window.lt, "cus_resumed")
    plan.lanes[last].remaining = (Range(window.gte, window.lt - 10), chain)
    run = StreamRun(plan)
    assert run.pop_chain() == (last, chain)
    assert run.pop() == (last, Range(window.gte, window.lt - 10))  # then the rest of that lane
    assert run.pop() is not None
    assert run.open_count == 6


def test_the_queue_holds_only_the_lanes_it_has_reached() -> None:
    """10,000 accounts: after three fetches the queue holds three lanes' entries, and still counts
    every other lane as open, so the stream is not finished before its last account."""
    plan = _plan(10_000)
    run = StreamRun(plan)
    taken = [run.pop() for _ in range(3)]
    assert all(entry is not None for entry in taken)
    assert (len(run.queued), len(run.drawn), len(run.ready)) == (0, 0, 0)
    assert len(run.open) == 3
    assert run.open_count == 10_000
    for entry in taken:
        assert entry is not None
        _read_one_page(run, *entry)  # one page read the whole lane
    assert run.open_count == 9_997
    assert not run.open


def test_a_stream_is_open_until_its_last_lane_is_read_and_then_has_nothing_waiting() -> None:
    plan = _plan(50)
    run = StreamRun(plan)
    seen = []
    while (entry := run.pop()) is not None:
        assert run.open_count == 50 - len(seen)
        seen.append(entry[0])
        _read_one_page(run, *entry)
    assert seen == list(plan.lanes)
    assert run.open_count == 0
    assert not run.has_ready
