"""Upserts agree in any order: the same versions, arriving in any order and batching, give one table."""

from __future__ import annotations

from typing import Any, NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from sync_platform.engine.destination_kit import Version as KitVersion
from sync_platform.engine.destination_kit import version_of
from sync_platform.protocol import RecordMessage, stream_state
from sync_platform_tests.destinations.postgres.conftest import (
    ACCOUNT,
    catalog_of,
    errors,
    select,
    stripe_stream,
    version,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

CATALOG = catalog_of(stripe_stream())


class Version(NamedTuple):
    id: str
    updated_at: int
    deleted: bool
    amount: int

    def message(self) -> RecordMessage:
        return version("charge", self.id, self.updated_at, deleted=self.deleted, amount=self.amount)


versions = st.lists(
    st.builds(
        Version,
        id=st.sampled_from(["ch_a", "ch_b", "ch_c"]),
        updated_at=st.integers(1, 3),
        deleted=st.booleans(),
        amount=st.integers(0, 2),
    ),
    min_size=1,
    max_size=12,
)


def expected_table(applied: list[Version]) -> tuple[list[tuple[str, int, int]], list[tuple[list[str], int]]]:
    """Rows ``(id, updated_at, amount)`` and tombstones ``(key, deleted_at)`` the rules promise.

    Per object the winner is its greatest version in the destination kit's order (``version_of``):
    the same records, ranked by the same function every destination applies.
    """
    winners: dict[str, Version] = {}
    for v in applied:
        best = winners.get(v.id)
        if best is None or rank(v) > rank(best):
            winners[v.id] = v
    rows = sorted((w.id, w.updated_at, w.amount) for w in winners.values() if not w.deleted)
    tombstones = sorted(([w.id, ACCOUNT], w.updated_at) for w in winners.values() if w.deleted)
    return rows, tombstones


def rank(v: Version) -> KitVersion:
    ranked = version_of(v.message().record, "_updated_at")
    assert ranked is not None
    return ranked


def apply(
    pg: PgTestDatabase, config: dict[str, Any], applied: list[Version], batch_size: int, writes: int
) -> Any:
    with pg.connect() as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg.schema)))
    per_write = -(-len(applied) // writes)
    for start in range(0, len(applied), per_write):
        chunk = [v.message() for v in applied[start : start + per_write]]
        output = write({**config, "batch_size": batch_size}, CATALOG, [*chunk, stream_state("charge", {})])
        assert errors(output) == []
    rows = [(i, int(t.timestamp()), a) for i, t, a in select(pg, "charge", "id, _updated_at, amount")]
    tombstones = [(k, int(t.timestamp())) for k, t in select(pg, "_sync_tombstones", "key, deleted_at")]
    return rows, tombstones


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.data(),
    applied=versions,
    batch_size=st.integers(1, 5),
    writes=st.integers(1, 3),
)
def test_any_order_and_batching_of_the_same_versions_gives_the_same_table(
    pg: PgTestDatabase,
    config: dict[str, Any],
    data: st.DataObject,
    applied: list[Version],
    batch_size: int,
    writes: int,
) -> None:
    shuffled = data.draw(st.permutations(applied))
    expected = expected_table(applied)
    assert apply(pg, config, applied, batch_size, writes) == expected
    assert apply(pg, config, shuffled, data.draw(st.integers(1, 5)), data.draw(st.integers(1, 3))) == expected
