"""Typed columns keep a value exactly when the Python-side rule says so (the two must agree)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from sync_platform.destinations.postgres.type_rules import ACCEPTS, ColumnKind, normalize_date_time
from sync_platform.protocol import Message, record
from sync_platform_tests.destinations.postgres.conftest import (
    catalog_of,
    errors,
    logs,
    obj,
    stripe_stream,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

KIND_SCHEMAS: dict[ColumnKind, dict[str, Any]] = {
    ColumnKind.TEXT: {"type": ["string", "null"]},
    ColumnKind.REFERENCE: {"type": ["string", "null"], "x-expandable-reference": True},
    ColumnKind.BOOLEAN: {"type": "boolean"},
    ColumnKind.BIGINT: {"type": "integer"},
    ColumnKind.NUMERIC: {"type": "number"},
    ColumnKind.UNIX_TIME: {"type": "integer", "format": "unix-time"},
    ColumnKind.DATE_TIME: {"type": "string", "format": "date-time"},
    ColumnKind.JSON: {"type": ["object", "array"]},
    ColumnKind.ANY: {},
}
PROPERTIES = {
    "id": {"type": "string"},
    "_account_id": {"type": "string"},
    "_updated_at": {"type": "integer"},
    **{f"v_{kind.value}": schema for kind, schema in KIND_SCHEMAS.items()},
}
CATALOG = catalog_of(stripe_stream("probe", PROPERTIES))

TRICKY: list[Any] = [
    "abc",
    "",
    0,
    -5,
    2**63 - 1,
    2**63,
    2**70,
    -(10**30),
    -(2**63),
    1.0,
    1.5,
    1e300,
    1e16,
    True,
    False,
    {},
    {"id": "cus_1"},
    {"id": 5},
    [],
    [1, "a"],
    "2024-01-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01",
    "2024-01-01 10:00:00.123456789+05:30",
    "2024-01-01T10:00:00-2400",
    "yesterday",
    253402300799,
    253402300800,
    -62135596800,
    -62135596801,
    1700000000.25,
]


def probe(
    pg: PgTestDatabase, config: dict[str, Any], values: list[Any], batch_size: int = 100
) -> tuple[list[tuple[Any, ...]], list[Message]]:
    """Write one record per value (the value in every typed column) and read the columns back.

    With ``batch_size=1`` every value is a batch of its own, so a value the fast SQL path can take
    goes that way; in one big batch of mixed values every column takes the guarded path.
    """
    with pg.connect() as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(pg.schema)))
    messages = [
        record("probe", obj(f"r{i:04d}", 1, **{k: v for k in PROPERTIES if k.startswith("v_")}))
        for i, v in enumerate(values)
    ]
    output = write({**config, "batch_size": batch_size}, CATALOG, messages)
    assert errors(output) == []
    columns = sql.SQL(", ").join(sql.Identifier(f"v_{kind.value}") for kind in KIND_SCHEMAS)
    with pg.connect() as connection:
        return connection.execute(
            sql.SQL("SELECT {} FROM {} ORDER BY id").format(columns, sql.Identifier(pg.schema, "probe"))
        ).fetchall(), output


def assert_agreement(
    pg: PgTestDatabase, config: dict[str, Any], values: list[Any], batch_size: int = 100
) -> None:
    stored, output = probe(pg, config, values, batch_size)
    warned = {m.log.data["column"] for m in logs(output, "warn") if m.log.data and "column" in m.log.data}
    expected_warnings = set()
    for value, row in zip(values, stored, strict=True):
        for kind, typed in zip(KIND_SCHEMAS, row, strict=True):
            accepted = value is not None and ACCEPTS[kind](value)
            assert (typed is not None) == accepted, (kind, value, typed)
            if value is not None and not accepted:
                expected_warnings.add(f"v_{kind.value}")
            if accepted and kind is ColumnKind.DATE_TIME:
                assert typed == datetime.fromisoformat(normalize_date_time(value) or "")
    assert warned == expected_warnings


@pytest.mark.parametrize("batch_size", [1, 100])
def test_tricky_values_are_kept_or_nulled_as_the_python_rule_says(
    pg: PgTestDatabase, config: dict[str, Any], batch_size: int
) -> None:
    assert_agreement(pg, config, [*TRICKY, None], batch_size)


@pytest.mark.parametrize("batch_size", [1, 100])
def test_numbers_keep_their_value_in_typed_columns(
    pg: PgTestDatabase, config: dict[str, Any], batch_size: int
) -> None:
    stored, _ = probe(pg, config, [2**63 - 1, 1.0, 1700000000.25], batch_size)
    bigints = [row[list(KIND_SCHEMAS).index(ColumnKind.BIGINT)] for row in stored]
    assert bigints == [2**63 - 1, 1, None]
    times = [row[list(KIND_SCHEMAS).index(ColumnKind.UNIX_TIME)] for row in stored]
    assert times[2].timestamp() == pytest.approx(1700000000.25)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["id", "a", "b"]), children, max_size=3)
    ),
    max_leaves=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(json_values | st.sampled_from(TRICKY), min_size=1, max_size=20),
    batch_size=st.sampled_from([1, 3, 100]),
)
def test_any_json_value_is_kept_or_nulled_as_the_python_rule_says(
    pg: PgTestDatabase, config: dict[str, Any], values: list[Any], batch_size: int
) -> None:
    assert_agreement(pg, config, values, batch_size)
