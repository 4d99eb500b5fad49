"""Stream operators: take_through_states, take_until (soft limit) and enforce_catalog."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sync_platform.engine import FakeClock, enforce_catalog, take_through_states, take_until
from sync_platform.protocol import (
    CatalogPayload,
    ConfiguredCatalog,
    ConfiguredStream,
    LogMessage,
    Message,
    RecordMessage,
    SourceStateMessage,
    Stream,
    global_state,
    log,
    record,
    stream_complete,
)
from sync_platform_tests.engine.conftest import SCHEMA, rec, state


class Upstream:
    """An async iterator over a list that remembers whether it was closed early."""

    def __init__(self, items: Sequence[Any]) -> None:
        self.items = list(items)
        self.closed = 0
        self.exhausted = False

    async def iterate(self) -> AsyncIterator[Any]:
        try:
            for item in self.items:
                yield item
            self.exhausted = True
        finally:
            if not self.exhausted:
                self.closed += 1


def run(operator: Any, upstream: Upstream) -> list[Any]:
    async def go() -> list[Any]:
        return [m async for m in operator(upstream.iterate())]

    return asyncio.run(go())


def rrs(times: int) -> list[Message]:
    messages: list[Message] = []
    for i in range(times):
        messages += [rec("customer", f"a{i}"), rec("customer", f"b{i}"), state("customer", i)]
    return messages


def counts(messages: list[Any]) -> tuple[int, int]:
    return (
        sum(isinstance(m, RecordMessage) for m in messages),
        sum(isinstance(m, SourceStateMessage) for m in messages),
    )


def test_take_through_states_includes_the_nth_state_and_closes_upstream_once() -> None:
    cut: list[bool] = []
    upstream = Upstream(rrs(4))
    out = run(take_through_states(3, lambda: cut.append(True)), upstream)
    assert counts(out) == (6, 3)
    assert out[-1] == state("customer", 2)
    assert cut == [True]
    assert upstream.closed == 1


def test_take_through_states_reports_nothing_cut_when_the_source_ends_at_the_limit() -> None:
    """The reference said "has more" here and cost callers one extra, empty request."""
    cut: list[bool] = []
    upstream = Upstream(rrs(2))
    out = run(take_through_states(2, lambda: cut.append(True)), upstream)
    assert counts(out) == (4, 2)
    assert cut == []
    assert upstream.closed == 0


def test_take_through_states_passes_everything_when_the_limit_is_not_reached() -> None:
    upstream = Upstream(rrs(4))
    assert counts(run(take_through_states(99), upstream)) == (8, 4)
    assert upstream.closed == 0


def test_take_through_states_commits_the_state_it_cuts_at_and_what_was_held_upstream() -> None:
    """Every record before them has passed: committing them saves the next batch re-reading."""
    cut: list[bool] = []
    held = [state("invoice", 7)]
    items = [*rrs(1), state("invoice", 5), rec("customer", "c9"), state("customer", 9)]
    upstream = Upstream(items)
    out = run(take_through_states(1, lambda: cut.append(True), release=lambda: held), upstream)
    assert out == [*items[:4], *held]
    assert cut == [True]
    assert upstream.closed == 1


def test_take_through_states_lets_a_trailing_status_through_but_cuts_the_next_record() -> None:
    cut: list[bool] = []
    upstream = Upstream([*rrs(1), stream_complete("customer"), rec("invoice", "in_1"), state("invoice", 1)])
    out = run(take_through_states(1, lambda: cut.append(True)), upstream)
    assert out[-1] == stream_complete("customer")
    assert cut == [True]


def test_take_through_states_keeps_its_count_per_run_not_per_operator() -> None:
    operator = take_through_states(1)
    assert counts(run(operator, Upstream(rrs(3)))) == (2, 1)
    assert counts(run(operator, Upstream(rrs(3)))) == (2, 1)


message_kinds = st.lists(st.sampled_from(["record", "state", "log"]), max_size=40)


def build(kinds: list[str]) -> list[Message]:
    out: list[Message] = []
    for i, kind in enumerate(kinds):
        out.append(
            rec("s", f"r{i}")
            if kind == "record"
            else state("s", i)
            if kind == "state"
            else log("info", str(i))
        )
    return out


def _nth_state(messages: list[Message], n: int) -> int:
    return [i for i, m in enumerate(messages) if isinstance(m, SourceStateMessage)][n - 1]


@given(kinds=message_kinds, limit=st.integers(min_value=1, max_value=10))
def test_take_through_states_ends_at_the_limit_and_never_drops_before_the_nth_state(
    kinds: list[str], limit: int
) -> None:
    messages = build(kinds)
    cut: list[bool] = []
    out = run(take_through_states(limit, lambda: cut.append(True)), Upstream(messages))
    # past the limit only the state it was cut at, which no record separates from the Nth
    assert counts(out)[1] <= limit + 1
    if counts(out)[1] == limit + 1:
        assert isinstance(out[-1], SourceStateMessage)
        assert counts(out[: len(out) - 1])[1] == limit
        assert not any(isinstance(m, RecordMessage) for m in out[_nth_state(out, limit) :])
    assert out == messages[: len(out)]  # a prefix: nothing dropped or reordered
    state_positions = [i for i, m in enumerate(messages) if isinstance(m, SourceStateMessage)]
    if len(state_positions) >= limit:
        assert len(out) > state_positions[limit - 1]  # everything up to the Nth state is there
    if len(out) < len(messages):
        assert cut
    if not cut:
        assert out == messages


def test_take_until_stops_between_messages_once_the_deadline_passes() -> None:
    clock = FakeClock()
    cut: list[bool] = []

    async def ticking() -> AsyncIterator[Message]:
        for i in range(100):
            clock.advance(0.125)  # exact in binary, so the deadline lands on an item
            yield rec("s", str(i))

    async def go() -> list[Message]:
        return [
            m async for m in take_until(clock.monotonic() + 1.0, clock, lambda: cut.append(True))(ticking())
        ]

    out = asyncio.run(go())
    assert len(out) == 8  # read at t=0.125 ... t=1.0; reading stops at the deadline
    assert cut == [True]


def test_take_until_fires_while_the_source_is_idle() -> None:
    clock = FakeClock()
    closed = asyncio.Event()

    async def idle() -> AsyncIterator[Message]:
        try:
            yield rec("s", "1")
            await asyncio.Event().wait()  # never produces again
            yield rec("s", "2")
        finally:
            closed.set()

    async def go() -> list[Message]:
        operator = take_until(clock.monotonic() + 5, clock)(idle())
        first = await anext(operator)
        waiting = asyncio.ensure_future(anext(operator, None))
        await clock.until_sleeping()  # the operator is now waiting on an idle source
        clock.advance(5)
        assert await waiting is None  # ended, no second message
        assert closed.is_set()  # and the idle source was closed
        return [first]

    assert len(asyncio.run(go())) == 1


def test_take_until_without_a_deadline_passes_everything() -> None:
    upstream = Upstream(rrs(3))
    assert counts(run(take_until(None, FakeClock()), upstream)) == (6, 3)


def catalog(*names: str, schema: dict[str, Any] | None = SCHEMA) -> ConfiguredCatalog:
    discovered = CatalogPayload(
        streams=[Stream(name=n, primary_key=[["id"]], json_schema=schema) for n in names]
    )
    return ConfiguredCatalog(streams=[ConfiguredStream(stream=s) for s in discovered.streams])


def test_enforce_catalog_drops_unknown_streams_with_one_error_log_per_stream() -> None:
    kept = rec("customer", "c1")
    messages = [rec("ghost", "1"), rec("ghost", "2"), state("ghost", 1), kept]
    out = run(enforce_catalog(catalog("customer")), Upstream(messages))
    logs = [m for m in out if isinstance(m, LogMessage)]
    assert len(logs) == 1
    assert logs[0].log.level == "error"
    assert "ghost" in logs[0].log.message
    assert [m for m in out if not isinstance(m, LogMessage)] == [kept]


def test_enforce_catalog_keeps_fields_the_schema_does_not_know_and_always_strips_deleted() -> None:
    """Raw is raw: a field the pinned SDK does not declare (Stripe added it since) stays."""
    message = record(
        "customer",
        {"id": "c1", "name": "A", "account_balance": 0, "deleted": True},
        deleted=True,
    )
    (out,) = run(enforce_catalog(catalog("customer")), Upstream([message]))
    assert out.record.data == {"id": "c1", "name": "A", "account_balance": 0}
    assert out.record.record_deleted is True


def test_enforce_catalog_cuts_a_record_to_the_fields_a_user_selected() -> None:
    selected = catalog("customer")
    selected = ConfiguredCatalog(streams=[selected.streams[0].model_copy(update={"fields": ["name"]})])
    message = record("customer", {"id": "c1", "name": "A", "email": "a@example.com", "_updated_at": 5})
    (out,) = run(enforce_catalog(selected), Upstream([message]))
    assert out.record.data == {"id": "c1", "name": "A", "_updated_at": 5}  # plus key and version


def test_enforce_catalog_without_a_schema_keeps_fields_but_still_strips_deleted() -> None:
    message = record("customer", {"id": "c1", "anything": 1, "deleted": False})
    (out,) = run(enforce_catalog(catalog("customer", schema=None)), Upstream([message]))
    assert out.record.data == {"id": "c1", "anything": 1}


def test_enforce_catalog_passes_global_states_and_non_data_messages() -> None:
    messages = [global_state({"events_cursor": 5}), log("info", "hi"), stream_complete("whatever")]
    assert run(enforce_catalog(catalog("customer")), Upstream(messages)) == messages


def test_enforce_catalog_passes_a_record_with_nothing_to_cut_as_it_is() -> None:
    """No copy per record when there is nothing to remove: the same message object leaves."""
    plain = record("customer", {"id": "c1", "name": "A", "_updated_at": 5})
    selected = catalog("customer")
    selected = ConfiguredCatalog(
        streams=[selected.streams[0].model_copy(update={"fields": ["name", "id", "_updated_at"]})]
    )
    for configured in (catalog("customer"), selected):
        (out,) = run(enforce_catalog(configured), Upstream([plain]))
        assert out is plain
