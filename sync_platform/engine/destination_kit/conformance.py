"""The destination conformance suite: the kit's guarantees, checked the same way for every destination.

Every case drives a real destination through its public contract (``setup``, ``write``, and the
optional ``prune_tombstones``) and reads back what it stored; the assertions are the same for all
destinations, and the expected outcome always comes from the kit itself (``winner``), so a
destination that compares versions on its own (in SQL, say) is proven to agree with the kit's order.

The optional hooks (``prune_tombstones``, ``purge_account``) are proven when the destination has
them and their cases skipped otherwise.

A destination joins by subclassing ``DestinationConformance`` in one of its test modules and
providing the ``conformance_target`` fixture (pytest collects the inherited cases)::

    import pytest
    from sync_platform.engine.destination_kit.conformance import ConformanceTarget, DestinationConformance

    class TestMyDestination(DestinationConformance):
        @pytest.fixture
        def conformance_target(self) -> ConformanceTarget:
            return ConformanceTarget(
                destination=MyDestination(),
                config={"dsn": "..."},  # a fresh, empty place to write to, for each test
                read_rows=read_my_rows,  # (config, stream) -> every stored row as {field: value}
            )

Requires pytest (this module is not imported by the kit itself). See docs/destinations/README.md.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from sync_platform.engine.destination_kit.conformance_harness import (
    ACCOUNT,
    HOSTILE_IDS,
    HOSTILE_METADATA,
    HOSTILE_TEXT,
    PROPERTIES,
    T0,
    A,
    B,
    ConformanceTarget,
    Harness,
    SourceCrash,
    assert_fenced,
    errors,
    expected,
    feed,
    gone,
    live,
    on_stream,
    states,
    suite_stream,
)
from sync_platform.engine.destination_kit.purge import PurgesAccounts
from sync_platform.engine.destination_kit.tombstones import PrunesTombstones
from sync_platform.protocol import (
    Message,
    SourceStateMessage,
    global_state,
    record,
    stream_state,
)


class DestinationConformance:
    """The cases; a subclass provides the ``conformance_target`` fixture (see the module docstring)."""

    @pytest.fixture
    def harness(self, conformance_target: ConformanceTarget) -> Harness:
        return Harness(conformance_target)

    # --- newer wins --------------------------------------------------------------------------------

    def test_duplicates_leave_one_row(self, harness: Harness) -> None:
        first = [
            live(A, "a", T0, "v1"),
            live(A, "a", T0, "v1"),
            live(A, "b", T0, "v1"),
            live(A, "a", T0, "v1"),
        ]
        out = harness.write([*first, stream_state(A, 1)])
        assert errors(out) == []
        assert states(out) == [(A, 1)]
        harness.write([live(A, "a", T0, "v1"), stream_state(A, 2)])  # the same version, replayed
        assert harness.tags(A) == {"a": "v1", "b": "v1"}

    def test_out_of_order_versions_keep_the_newest(self, harness: Harness) -> None:
        order = [3, 1, 4, 2]
        harness.write([live(A, "a", T0 + n, f"v{n}") for n in order])  # one batch
        for n in order:  # one write each
            harness.write([live(A, "b", T0 + n, f"v{n}")])
        assert harness.tags(A) == {"a": "v4", "b": "v4"}

    def test_a_late_older_version_never_overwrites_a_newer_one(self, harness: Harness) -> None:
        harness.write([live(A, "a", T0 + 5, "new"), live(A, "b", T0 + 5.5, "new")])
        harness.write([live(A, "a", T0 + 3, "late"), live(A, "b", T0 + 5, "late")])
        assert harness.tags(A) == {"a": "new", "b": "new"}

    def test_ties_keep_the_same_winner_whatever_the_arrival_order(self, harness: Harness) -> None:
        """Two different versions with the same ``_updated_at``: the kit's tie-break decides, the same
        way whether they arrive in one order or the other, in one write or in two."""
        x = {key: live(A, key, T0, f"x-{key}", note="one content") for key in ("a", "b", "c", "d")}
        y = {key: live(A, key, T0, f"y-{key}", note="another content") for key in ("a", "b", "c", "d")}
        harness.write([x["a"], y["a"], x["b"]])  # a: x then y in one write; b: x ...
        harness.write([y["b"], y["c"]])  # ... then y in the next; c: y ...
        harness.write([x["c"], y["d"], x["d"]])  # ... then x; d: y then x in one write
        # B: every pair the other way
        harness.write([on_stream(B, y["a"]), on_stream(B, x["a"]), on_stream(B, y["b"])])
        harness.write([on_stream(B, x["b"]), on_stream(B, x["c"])])
        harness.write([on_stream(B, y["c"]), on_stream(B, x["d"]), on_stream(B, y["d"])])
        promised = expected([*x.values(), *y.values()])
        assert harness.tags(A) == promised
        assert harness.tags(B) == promised

    def test_a_tombstone_beats_an_equal_or_older_live_version(self, harness: Harness) -> None:
        harness.write([live(A, "a", T0, "first"), live(A, "b", T0 + 5, "first")])
        harness.write([gone(A, "a", T0), gone(A, "b", T0 + 3)])  # a: same second; b: older than the row
        harness.write([live(A, "a", T0, "same second, after the delete")])
        harness.write([gone(A, "c", T0 + 1), live(A, "c", T0 + 1, "same second, same batch")])
        assert harness.tags(A) == {"b": "first"}

    # --- remembered deletes ------------------------------------------------------------------------

    def test_a_stale_update_after_a_delete_in_the_same_batch_stays_deleted(self, harness: Harness) -> None:
        out = harness.write(
            [
                live(A, "a", T0 + 1, "v1"),
                gone(A, "a", T0 + 2),
                live(A, "a", T0 + 1, "v1, again"),
                live(A, "a", T0 + 2, "same second as the delete"),
                gone(A, "b", T0 + 2),
                live(A, "b", T0 + 1, "older than the delete"),
                stream_state(A, 1),
            ]
        )
        assert states(out) == [(A, 1)]
        assert harness.tags(A) == {}

    def test_a_stale_update_after_a_delete_in_a_later_write_stays_deleted(self, harness: Harness) -> None:
        """The bug this suite was written for: a late, older update re-created a deleted row."""
        harness.write([live(A, "a", T0 + 1, "v1")])
        harness.write([gone(A, "a", T0 + 2)])
        harness.write([live(A, "a", T0 + 1, "late, older")])
        harness.write([live(A, "a", T0 + 2, "late, same second")])
        assert harness.tags(A) == {}
        harness.write([live(A, "a", T0 + 3, "re-created")])  # genuinely newer: the object is back
        assert harness.tags(A) == {"a": "re-created"}

    def test_a_deleted_unknown_id_is_remembered(self, harness: Harness) -> None:
        harness.write([gone(A, "never-seen", T0 + 5), stream_state(A, 1)])
        assert harness.tags(A) == {}
        harness.write([live(A, "never-seen", T0 + 4, "created before the delete, arriving after")])
        assert harness.tags(A) == {}
        harness.write([live(A, "never-seen", T0 + 6, "newer")])
        assert harness.tags(A) == {"never-seen": "newer"}

    def test_pruning_forgets_only_the_tombstones_past_the_horizon(self, harness: Harness) -> None:
        destination = harness.target.destination
        if not isinstance(destination, PrunesTombstones):
            pytest.skip("this destination keeps no tombstones to prune")
        now = int(time.time())
        old, recent = now - 50 * 86_400, now - 86_400
        harness.write([gone(A, "old", old), gone(A, "recent", recent), gone(B, "old", old)])
        horizon = datetime.fromtimestamp(now, UTC) - timedelta(days=45)
        assert destination.prune_tombstones(harness.config, horizon) == 2
        assert destination.prune_tombstones(harness.config, horizon) == 0
        late = [
            live(A, "old", old - 1, "late"),
            live(A, "recent", recent - 1, "late"),
            live(B, "old", old - 1, "late"),
        ]
        harness.write(late)
        assert harness.tags(A) == {"old": "late"}  # forgotten, so an older version is taken again
        assert harness.tags(B) == {"old": "late"}

    # --- purging an account ------------------------------------------------------------------------

    def test_purging_an_account_removes_its_rows_and_only_its(self, harness: Harness) -> None:
        """A departed account's rows leave every stream, wherever they sit among the others'; a
        second purge finds nothing; the account's rows written again (it was authorized again and
        backfilled) are stored as new."""
        destination = harness.target.destination
        if not isinstance(destination, PurgesAccounts):
            pytest.skip("this destination cannot remove one account's rows")
        departed = "acct_departed"
        harness.write(
            [
                live(A, "a", T0, "v1"),
                live(A, "a", T0, "theirs", _account_id=departed),  # the same id, another account
                live(A, "x", T0, "theirs", _account_id=departed),
                live(A, "b", T0, "v1"),
                live(A, "y", T0, "theirs", _account_id=departed),
                live(B, "z", T0, "theirs", _account_id=departed),
                live(B, "b", T0, "v1"),
                stream_state(A, 1),
            ]
        )
        assert destination.purge_account(harness.config, departed) == 4
        assert destination.purge_account(harness.config, departed) == 0
        assert harness.tags(A) == {"a": "v1", "b": "v1"}  # `rows` also checks no other account is left
        assert harness.tags(B) == {"b": "v1"}
        harness.write([live(A, "x", T0, "back", _account_id=departed), live(A, "c", T0 + 1, "v1")])
        stored = {
            (row["id"], row["_account_id"], row["tag"]) for row in harness.target.read_rows(harness.config, A)
        }
        assert stored == {
            ("a", ACCOUNT, "v1"), ("b", ACCOUNT, "v1"), ("c", ACCOUNT, "v1"), ("x", departed, "back")
        }  # fmt: skip

    # --- the commit fence --------------------------------------------------------------------------

    def test_a_state_comes_back_only_after_the_records_before_it_are_stored(self, harness: Harness) -> None:
        sent: list[Message] = [
            *(live(A, f"a{i}", T0, "v1") for i in range(3)),
            stream_state(A, 1),
            *(live(B, f"b{i}", T0, "v1") for i in range(2)),
            stream_state(B, 1),
            live(A, "a3", T0, "v1"),
            global_state({"cursor": 1}),
        ]
        seen: list[tuple[str, int, int]] = []

        async def run() -> list[Message]:
            output = []
            async for message in harness.target.destination.write(
                harness.config, harness.catalog, feed(sent)
            ):
                output.append(message)
                if isinstance(message, SourceStateMessage):
                    name = states([message])[0][0]
                    counted = await asyncio.to_thread(lambda: (len(harness.rows(A)), len(harness.rows(B))))
                    seen.append((name, *counted))
            return output

        output = asyncio.run(run())
        assert states(output) == [(A, 1), (B, 1), ("global", {"cursor": 1})]
        assert seen[0][1] >= 3
        assert seen[1][1] >= 3
        assert seen[1][2] >= 2
        assert seen[2][1:] == (4, 2)
        assert_fenced(sent, output)

    def test_a_failed_stream_reports_one_error_and_none_of_its_later_states(self, harness: Harness) -> None:
        keyless = record(A, {"object": "thing", "tag": "no id", "_account_id": ACCOUNT, "_updated_at": T0})
        sent: list[Message] = [
            live(A, "a", T0, "v1"),
            stream_state(A, 1),
            keyless,
            live(A, "b", T0, "v1"),
            stream_state(A, 2),
            live(B, "b", T0, "v1"),
            stream_state(B, 1),
            global_state({"cursor": 1}),
        ]
        out = harness.write(sent)
        assert [error.stream for error in errors(out)] == [A]
        assert (A, 2) not in states(out)
        assert (B, 1) in states(out)
        assert ("global", {"cursor": 1}) not in states(out)
        assert_fenced(sent, out)
        assert harness.tags(B) == {"b": "v1"}
        assert "b" not in harness.tags(A)

    def test_a_failed_write_withholds_its_state_and_a_rerun_converges(self, harness: Harness) -> None:
        failing = harness.target.failing
        if failing is None:
            pytest.skip("the target cannot make a flush fail")
        harness.write([live(A, "a", T0, "v1"), stream_state(A, 1)])
        batch: list[Message] = [
            live(A, "a", T0 + 1, "v2"),
            live(A, "b", T0, "v1"),
            gone(A, "c", T0),
            live(A, "d", T0, "v1"),
            stream_state(A, 2),
            global_state({"cursor": 2}),
        ]
        with failing(harness.config, A):
            out = harness.write(batch)
        assert [error.stream for error in errors(out)] == [A]
        assert states(out) == []
        after = {"a": "v2", "b": "v1", "d": "v1"}
        assert harness.tags(A) in ({"a": "v1"}, after)  # the batch is all there, or none of it
        rerun = harness.write(batch)
        assert errors(rerun) == []
        assert states(rerun) == [(A, 2), ("global", {"cursor": 2})]
        assert harness.tags(A) == after

    def test_a_crash_before_the_state_leaves_all_or_nothing_and_a_rerun_converges(
        self, harness: Harness
    ) -> None:
        harness.write([live(A, "a", T0, "v1"), stream_state(A, 1)])
        batch: list[Message] = [live(A, "a", T0 + 1, "v2"), live(A, "b", T0, "v1"), gone(A, "c", T0)]

        async def crashing() -> AsyncIterator[Message]:
            for message in batch:
                yield message
            raise SourceCrash("the source died before its checkpoint")

        async def consume(output: list[Message]) -> None:
            async for message in harness.target.destination.write(
                harness.config, harness.catalog, crashing()
            ):
                output.append(message)

        output: list[Message] = []
        with pytest.raises(SourceCrash):
            asyncio.run(consume(output))
        assert states(output) == []
        after = {"a": "v2", "b": "v1"}
        assert harness.tags(A) in ({"a": "v1"}, after)
        rerun = harness.write([*batch, stream_state(A, 2)])
        assert states(rerun) == [(A, 2)]
        assert harness.tags(A) == after

    # --- values ------------------------------------------------------------------------------------

    def test_hostile_values_are_stored_as_values(self, harness: Harness) -> None:
        """Formula-like text stays text, SQL-like text is never run, quotes, unicode, NUL and very
        long text survive (as the destination documents storing them), and so do odd keys."""
        sent = [live(A, f"n{i}", T0, f"t{i}", note=text) for i, text in enumerate(HOSTILE_TEXT)]
        sent += [live(A, key, T0, key, note=key, metadata=HOSTILE_METADATA) for key in HOSTILE_IDS]
        out = harness.write([*sent, stream_state(A, 1)])
        assert errors(out) == []
        assert states(out) == [(A, 1)]
        rows = harness.rows(A)
        assert len(rows) == len(sent)  # nothing ran, nothing was lost
        for i, text in enumerate(HOSTILE_TEXT):
            assert rows[f"n{i}"]["note"] == harness.target.stored_text(text), f"note {i}"
        for key in HOSTILE_IDS:
            assert rows[key]["tag"] == key
            assert rows[key]["metadata"] == HOSTILE_METADATA

    # --- any order, any batching -------------------------------------------------------------------

    @pytest.mark.parametrize("seed", range(6))
    def test_any_order_and_batching_converges_to_the_greatest_version_of_each_object(
        self, harness: Harness, seed: int
    ) -> None:
        """Random versions (ties, tombstones, duplicates included), shuffled and cut into writes at
        random: each object ends as its greatest version in the kit's order, or absent."""
        rng = random.Random(seed)
        versions = [
            gone(A, key, T0 + at)
            if rng.random() < 0.3
            else live(A, key, T0 + at, f"{key}{at}-{rng.randrange(2)}")
            for key, at in ((rng.choice("abcd"), rng.randrange(3)) for _ in range(rng.randrange(4, 16)))
        ]
        for order in range(2):
            stream = (A, B)[order]
            shuffled = [on_stream(stream, message) for message in rng.sample(versions, len(versions))]
            cuts = sorted(rng.sample(range(1, len(shuffled)), k=min(2, len(shuffled) - 1)))
            for start, end in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
                out = harness.write([*shuffled[start:end], stream_state(stream, end)])
                assert errors(out) == []
                assert states(out) == [(stream, end)]
        promised = expected(versions)
        assert harness.tags(A) == promised
        assert harness.tags(B) == promised


__all__ = [
    "ACCOUNT",
    "HOSTILE_TEXT",
    "PROPERTIES",
    "ConformanceTarget",
    "DestinationConformance",
    "Harness",
    "assert_fenced",
    "suite_stream",
]
