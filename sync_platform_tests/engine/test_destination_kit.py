"""The destination kit: the version order (in Python and in SQL) and the commit fence, on their own.

What a real destination does with them is checked by the conformance suite
(sync_platform_tests/destinations/conformance); here are the rules themselves.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_platform.engine.destination_kit import (
    OLDEST,
    Change,
    CommitFence,
    Version,
    VersionSql,
    canonical_json,
    decide,
    live_version,
    sql_beats,
    sql_newest_first,
    tombstone_version,
    version_of,
    version_time,
    winner,
)
from sync_platform.errors import FailureKind
from sync_platform.protocol import (
    Message,
    RecordMessage,
    StreamStatusMessage,
    global_state,
    log,
    record,
    stream_complete,
    stream_state,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

T = 1_700_000_000
MICRO = 1_000_000

# --- the version order ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "micros"),
    [
        (T, T * MICRO),
        (T + 0.5, T * MICRO + 500_000),
        ("2023-11-14T22:13:20Z", T * MICRO),
        ("2023-11-14T22:13:20", T * MICRO),  # no offset: UTC
        ("2023-11-14T23:13:20+01:00", T * MICRO),
        ("2023-11-14T22:13:20.1234567Z", T * MICRO + 123_456),
        (datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC), T * MICRO),
        (True, None),
        (None, None),
        ("", None),
        ("yesterday", None),
        (float("nan"), None),
        ({"seconds": T}, None),
    ],
)
def test_a_version_time_is_whole_microseconds_from_unix_seconds_or_iso_text(
    value: Any, micros: int | None
) -> None:
    assert version_time(value) == micros


def test_newer_time_wins_then_a_tombstone_then_the_greater_digest() -> None:
    old, new = live_version(T * MICRO, {"id": "a"}), live_version((T + 1) * MICRO, {"id": "a"})
    assert new > old
    assert tombstone_version(T * MICRO) > old  # same time: the delete wins
    assert not tombstone_version(T * MICRO) > new
    x, y = live_version(T * MICRO, {"id": "a", "n": 1}), live_version(T * MICRO, {"id": "a", "n": 2})
    assert (x > y) == (x.digest > y.digest)
    assert x != y
    assert tombstone_version(T * MICRO) == tombstone_version(T * MICRO)  # two deletes: one version
    assert old > OLDEST


def test_the_digest_is_of_the_content_whatever_the_order_of_its_keys() -> None:
    assert (
        canonical_json({"bb": 1, "c": {"d": [1, 2.0], "a": None}})
        == b'{"c": {"a": null, "d": [1, 2.0]}, "bb": 1}'
    )
    one = live_version(0, {"id": "a", "note": "x", "nested": {"p": 1, "q": 2}})
    other = live_version(0, {"nested": {"q": 2, "p": 1}, "note": "x", "id": "a"})
    assert one == other


def test_the_canonical_json_is_of_the_record_as_a_store_keeps_it() -> None:
    """What no store can hold is repaired first (``storable_json``), so every store agrees."""
    repaired = {"s": "a\ufffdb", "x": None, "y": "\ufffd", "big": 2**70}
    raw = {"s": "a\u0000b", "x": float("nan"), "y": "\udc00", "big": 2**70}
    assert canonical_json(raw) == canonical_json(repaired)
    assert (
        canonical_json(raw)
        == '{"s": "a\ufffdb", "x": null, "y": "\ufffd", "big": 1180591620717411303424}'.encode()
    )


@pytest.mark.parametrize(
    ("incoming", "current", "change"),
    [
        (live_version(2, {}), None, Change.INSERT),
        (live_version(2, {}), live_version(1, {}), Change.UPDATE),
        (live_version(1, {}), live_version(2, {}), Change.STALE),
        (live_version(2, {"x": 1}), live_version(2, {"x": 1}), Change.STALE),  # an identical replay
        (live_version(2, {}), tombstone_version(1), Change.INSERT),  # re-created after its delete
        (live_version(2, {}), tombstone_version(2), Change.STALE),  # the delete of the same second
        (live_version(1, {}), tombstone_version(2), Change.STALE),  # a late, older version
        (tombstone_version(2), None, Change.DELETE),  # an unknown id: remembered
        (tombstone_version(2), live_version(2, {}), Change.DELETE),
        (tombstone_version(1), live_version(2, {}), Change.STALE),
        (tombstone_version(3), tombstone_version(2), Change.DELETE),  # the memory moves forward
        (tombstone_version(2), tombstone_version(2), Change.STALE),
    ],
)
def test_decide_applies_only_what_beats_the_current_version(
    incoming: Version, current: Version | None, change: Change
) -> None:
    assert decide(incoming, current) is change


def test_the_winner_of_records_is_their_greatest_version() -> None:
    versions = [record("s", {"id": "a", "_updated_at": T, "n": n}) for n in range(5)]
    versions.append(record("s", {"id": "a", "_updated_at": T - 1, "n": 9}))
    kept = winner([m.record for m in versions], "_updated_at")
    assert kept.data["n"] == max(
        range(5), key=lambda n: live_version(T * MICRO, versions[n].record.data).digest
    )
    delete = record("s", {"id": "a", "_updated_at": T}, deleted=True)
    assert winner([*(m.record for m in versions), delete.record], "_updated_at") is delete.record
    assert version_of(record("s", {"id": "a"}).record, "_updated_at") is None


versions = st.builds(
    lambda time, deleted, n: (
        tombstone_version(time * MICRO) if deleted else live_version(time * MICRO, {"n": n})
    ),
    time=st.integers(T, T + 2),
    deleted=st.booleans(),
    n=st.integers(0, 3),
)


TRICKY: list[dict[str, Any]] = [
    {"id": "a", "n": 1},
    {"id": "a", "n": 2},
    {"b": 1, "aa": [1, 2.5, 1e16, -0.0, 1.5e-7, 0.1, 100.0, 2**70], "é": 'x\u0001\t"\\/', "ab": {"z": None}},
    {"ké": True, "kz": False, "k": "naïve ☃ 𝄞 中文", "": "", "long key": "=1+1", "\u00e9\u00e9": [[], {}]},
    {"nul": "a\u0000b", "nan": float("nan"), "surrogate": "\udc00", "big": -(2**80), "small": 5e-324},
]


def test_the_canonical_json_is_postgresqls_own_text_of_the_record(pg: PgTestDatabase) -> None:
    """So a SQL store computes the digest from its ``jsonb`` with no column of its own."""
    with pg.connect() as connection:
        for data in TRICKY:
            sent = canonical_json(data).decode()  # what a store sends is valid JSON of the same value
            (text,) = connection.execute("SELECT %s::jsonb::text", (sent,)).fetchone()  # type: ignore[misc]
            assert canonical_json(data) == text.encode(), data


def test_the_sql_spelling_of_the_order_agrees_with_python(pg: PgTestDatabase) -> None:
    """``sql_beats`` and ``sql_newest_first``, evaluated by PostgreSQL over every pair of a set of
    versions (ties, tombstones and identical ones included), say what Python's ``>`` says."""
    pool: list[tuple[Version, dict[str, Any]]] = [
        (live_version((T + t) * MICRO, data), data) for t in range(2) for data in TRICKY[:4]
    ]
    pool += [(tombstone_version((T + t) * MICRO), {"id": "a"}) for t in range(2)]
    params: list[Any] = []
    rows = []
    for index, (version, data) in enumerate(pool):
        rows.append("(to_timestamp(%s::float8), %s, %s::jsonb, %s)")
        params += [version.time / MICRO, version.deleted, canonical_json(data).decode(), index]
    values = f"WITH v(t, d, r, i) AS (VALUES {', '.join(rows)}) "
    left, right = VersionSql.either("a.t", "a.d", "a.r"), VersionSql.either("b.t", "b.d", "b.r")
    pairs = f"{values} SELECT a.i, b.i, {sql_beats(left, right)} FROM v a, v b"
    ranked = f"{values} SELECT i FROM v ORDER BY {sql_newest_first(VersionSql.either('t', 'd', 'r'))}"
    with pg.connect() as connection:
        beats = {(a, b): bool(result) for a, b, result in connection.execute(pairs, params).fetchall()}  # type: ignore[misc]
        newest_first = [row[0] for row in connection.execute(ranked, params).fetchall()]  # type: ignore[index]
    versions = [version for version, _ in pool]
    assert beats == {
        (a, b): versions[a] > versions[b] for a, b in itertools.product(range(len(pool)), repeat=2)
    }
    assert [versions[i] for i in newest_first] == sorted(versions, reverse=True)


@given(st.lists(versions, min_size=1, max_size=8), st.randoms())
def test_applying_versions_in_any_order_ends_with_the_greatest(found: list[Version], rng: Any) -> None:
    def apply(order: list[Version]) -> Version | None:
        current: Version | None = None
        for incoming in order:
            if decide(incoming, current) is not Change.STALE:
                current = incoming
        return current

    shuffled = list(found)
    rng.shuffle(shuffled)
    assert apply(found) == apply(shuffled) == max(found)


# --- the commit fence ----------------------------------------------------------------------------


def rec(stream: str, key: str) -> RecordMessage:
    return record(stream, {"id": key, "_updated_at": T})


def errors_of(out: list[Message]) -> list[tuple[str, str]]:
    return [
        (m.stream_status.stream, m.stream_status.error)
        for m in out
        if isinstance(m, StreamStatusMessage) and m.stream_status.status == "error"
    ]


def run(body: Callable[[asyncio.AbstractEventLoop], Any]) -> Any:
    async def main() -> Any:
        return body(asyncio.get_running_loop())

    return asyncio.run(main())


def finished(loop: asyncio.AbstractEventLoop, result: Any = None, error: BaseException | None = None) -> Any:
    future = loop.create_future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
    return future


def test_a_state_leaves_only_once_the_records_before_it_are_committed() -> None:
    def body(loop: asyncio.AbstractEventLoop) -> None:
        fence = CommitFence()
        a1, a2 = rec("a", "1"), rec("a", "2")
        fence.record(a1, "a")
        fence.add(log("info", "passes once a1 is settled"))
        fence.record(a2, "a")
        assert fence.ready() == []  # the open batch holds everything behind it
        flush = loop.create_future()
        fence.seal("a", flush, on_commit=lambda stats: [log("debug", f"flushed {stats}")])
        state = stream_state("a", 1)
        fence.add(state)
        assert fence.ready() == []
        flush.set_result(2)
        out = fence.ready()
        assert out[0] is a1
        assert out[2] is a2
        assert [m.log.message for m in out if m.type == "log"] == ["passes once a1 is settled", "flushed 2"]
        assert out[-1] is state

    run(body)


def test_a_message_with_nothing_pending_passes_at_once() -> None:
    fence = CommitFence()
    fence.add(stream_state("a", 1))
    fence.add(global_state(1))
    assert len(fence.ready()) == 2


def test_a_failed_flush_fails_its_streams_once_and_drops_their_later_states_and_every_global_state() -> None:
    def body(loop: asyncio.AbstractEventLoop) -> None:
        failed: list[str] = []
        fence = CommitFence(on_stream_failed=failed.append)
        fence.record(rec("a", "1"), "all")
        fence.record(rec("b", "1"), "all")
        fence.seal(
            "all",
            finished(loop, error=OSError("gone")),
            on_error=lambda e: (f"lost: {e}", FailureKind.TRANSIENT),
        )
        fence.add(stream_state("a", 1))
        fence.record(rec("a", "2"), "all")  # open when the failure is learnt: dropped
        fence.add(stream_complete("b"))
        fence.add(global_state(1))
        fence.record(rec("c", "1"), "c")
        fence.seal("c", finished(loop, 1))
        fence.add(stream_state("c", 1))
        out = fence.ready()
        assert errors_of(out) == [("a", "lost: gone"), ("b", "lost: gone")]
        assert [m.type for m in out] == ["stream_status", "stream_status", "record", "source_state"]
        assert out[-1].source_state.stream == "c"  # type: ignore[union-attr]
        assert failed == ["a", "b"]
        assert fence.rejects("a")
        assert fence.dropped == {"a": 2, "b": 1}
        fence.record(rec("a", "3"), "all")
        assert fence.dropped["a"] == 3

    run(body)


def test_a_stream_failing_before_its_flush_puts_its_error_where_its_first_unflushed_record_was() -> None:
    """Otherwise a state (or global state) after that record, but before the failure, would pass."""

    def body(loop: asyncio.AbstractEventLoop) -> None:
        fence = CommitFence()
        kept = rec("b", "1")
        fence.record(kept, "buffer")
        fence.record(rec("a", "1"), "buffer")
        fence.add(stream_state("a", 1))
        fence.add(global_state(1))
        fence.add(stream_state("b", 1))
        fence.fail(["a"], "a record without its key", FailureKind.INVALID_REQUEST)
        fence.fail(["a"], "reported once", FailureKind.INVALID_REQUEST)
        fence.seal("buffer", finished(loop, None))
        out = fence.ready()
        assert out[0] is kept
        assert errors_of(out) == [("a", "a record without its key")]
        assert [m.source_state.stream for m in out if m.type == "source_state"] == ["b"]  # type: ignore[union-attr]

    run(body)


def test_an_abandoned_flush_echoes_nothing() -> None:
    def body(loop: asyncio.AbstractEventLoop) -> None:
        fence = CommitFence()
        fence.record(rec("a", "1"), "a")
        flush = loop.create_future()
        fence.seal("a", flush)
        fence.add(stream_state("a", 1))
        flush.cancel()
        assert [m.type for m in fence.ready()] == ["source_state"]
        assert fence.dropped == {"a": 1}

    run(body)


def test_unfinished_lists_the_running_flushes_oldest_first() -> None:
    def body(loop: asyncio.AbstractEventLoop) -> None:
        fence = CommitFence()
        first, second = loop.create_future(), loop.create_future()
        for key, flush in (("a", first), ("b", second)):
            fence.record(rec(key, "1"), key)
            fence.seal(key, flush)
        assert fence.unfinished() == [first, second]
        first.set_result(None)
        assert fence.unfinished() == [second]

    run(body)
