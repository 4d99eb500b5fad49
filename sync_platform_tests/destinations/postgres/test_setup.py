"""Setup: typed tables from JSON schemas, additive evolution, and names that cannot inject SQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from psycopg import sql

from sync_platform.destinations.postgres import StreamLayoutError, row_count, table_columns, table_name
from sync_platform.destinations.postgres.naming import column_name
from sync_platform.protocol import record, stream_state
from sync_platform_tests.destinations.postgres.conftest import (
    CHARGE_PROPERTIES,
    catalog_of,
    errors,
    logs,
    obj,
    select,
    setup,
    states,
    stripe_stream,
    version,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

EVERY_TYPE: dict[str, Any] = {
    "id": {"type": "string"},
    "name": {"type": ["string", "null"]},
    "amount": {"type": "integer"},
    "created": {"type": "integer", "format": "unix-time"},
    "fee_rate": {"type": "number"},
    "paid": {"type": "boolean"},
    "due_at": {"type": ["string", "null"], "format": "date-time"},
    "metadata": {"type": ["object", "null"]},
    "lines": {"type": "object", "x-stripe-list": True},
    "tags": {"type": ["array", "null"], "items": {"type": "string"}},
    "customer": {"type": ["string", "null"], "x-expandable-reference": True},
    "invoice": {"type": ["string", "null"], "x-expandable-reference": True},
    "mixed": {"type": ["string", "integer"]},
    "missing": {"type": ["string", "null"]},
    "_account_id": {"type": "string"},
    "_updated_at": {"type": "integer", "format": "unix-time"},
}


def column_types(pg: PgTestDatabase, table: str) -> dict[str, str]:
    return dict(table_columns({"url": pg.url, "schema": pg.schema}, table))


def test_setup_creates_the_schema_and_a_typed_table_per_stream(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    output = setup(config, catalog_of(stripe_stream("charge", EVERY_TYPE), stripe_stream("customer")))
    assert [m.log.message for m in logs(output)][:3] == [
        f"postgres: created schema {pg.schema!r}",
        f"postgres: created table {pg.schema}.charge",
        f"postgres: created table {pg.schema}.customer",
    ]
    assert column_types(pg, "charge") == {
        "id": "text",
        "_account_id": "text",
        "_updated_at": "timestamp with time zone",
        "_synced_at": "timestamp with time zone",
        "name": "text",
        "amount": "bigint",
        "created": "timestamp with time zone",
        "fee_rate": "numeric",
        "paid": "boolean",
        "due_at": "timestamp with time zone",
        "metadata": "jsonb",
        "lines": "jsonb",
        "tags": "jsonb",
        "customer": "text",
        "invoice": "text",
        "mixed": "jsonb",
        "missing": "text",
        "_raw_data": "jsonb",
    }
    with pg.connect() as connection:
        key = connection.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE contype = 'p' AND conrelid = %s::regclass",
            (sql.Identifier(pg.schema, "charge").as_string(connection),),
        ).fetchone()
    assert key == ("PRIMARY KEY (id, _account_id)",)


def test_every_json_schema_type_round_trips_into_its_typed_column(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    catalog = catalog_of(stripe_stream("charge", EVERY_TYPE))
    setup(config, catalog)
    data = obj(
        "ch_1",
        1_700_000_100,
        name="Jane",
        amount=-4200,
        created=1_700_000_000,
        fee_rate=0.029,
        paid=True,
        due_at="2024-03-01T12:30:00+02:00",
        metadata={"order": "42", "nested": {"a": [1, 2]}},
        lines={"object": "list", "data": [{"id": "il_1"}], "has_more": False},
        tags=["a", "b"],
        customer="cus_1",
        invoice={"id": "in_1", "object": "invoice", "total": 5},
        mixed=7,
    )
    assert errors(write(config, catalog, [record("charge", data)])) == []
    columns = "name, amount, created, fee_rate, paid, due_at, metadata, lines, tags, customer, invoice"
    columns += ", mixed, missing"
    [row] = select(pg, "charge", columns)
    assert row == (
        "Jane",
        -4200,
        datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC),
        Decimal("0.029"),
        True,
        datetime(2024, 3, 1, 10, 30, tzinfo=UTC),
        {"order": "42", "nested": {"a": [1, 2]}},
        {"object": "list", "data": [{"id": "il_1"}], "has_more": False},
        ["a", "b"],
        "cus_1",
        "in_1",
        7,
        None,
    )
    [(raw, updated_at)] = select(pg, "charge", "_raw_data, _updated_at")
    assert raw == data  # the raw JSON is the record, whole
    assert updated_at == datetime.fromtimestamp(1_700_000_100, UTC)


def test_setup_on_a_newer_catalog_adds_columns_and_keeps_every_row(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    catalog = catalog_of(stripe_stream())
    setup(config, catalog)
    write(config, catalog, [version("charge", f"ch_{i}", 100, amount=i) for i in range(5)])
    before = select(pg, "charge", "id, amount, _raw_data, _updated_at, _synced_at")

    newer = {**CHARGE_PROPERTIES, "currency": {"type": "string"}, "amount": {"type": "string"}}
    output = setup(config, catalog_of(stripe_stream("charge", newer)))

    messages = [m.log.message for m in logs(output)]
    assert any("added columns currency" in m for m in messages)
    assert any("amount is bigint, the catalog now says text" in m for m in messages)
    assert column_types(pg, "charge")["amount"] == "bigint"  # never retyped
    assert select(pg, "charge", "id, amount, _raw_data, _updated_at, _synced_at") == before
    assert {row[0] for row in select(pg, "charge", "currency")} == {None}

    write(
        config,
        catalog_of(stripe_stream("charge", newer)),
        [version("charge", "ch_9", 200, amount=9, currency="eur")],
    )
    assert select(pg, "charge", "amount, currency", order="_updated_at DESC")[0] == (9, "eur")
    assert row_count(config, "charge") == 6


def test_write_creates_a_missing_table_without_a_setup_run(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    output = write(
        config, catalog_of(stripe_stream()), [version("charge", "ch_1", 1), stream_state("charge", {})]
    )
    assert len(states(output)) == 1
    assert select(pg, "charge", "id") == [("ch_1",)]


def test_a_new_account_is_stored_although_the_catalog_enum_lists_another(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    catalog = catalog_of(stripe_stream())
    setup(config, catalog)
    data = {**obj("ch_1", 1), "_account_id": "acct_someone_new"}
    assert errors(write(config, catalog, [record("charge", data)])) == []
    assert row_count(config, "charge", account_id="acct_someone_new") == 1
    assert row_count(config, "charge", account_id="acct_other") == 0


HOSTILE_NAMES = [
    '"; DROP TABLE victim; --',
    'it\'s "quoted" twice',
    "with spaces and tabs\tinside",
    "ünïcödé 🚀 stream",
    "x" * 80,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hostile_stream_and_field_names_are_just_names(
    pg: PgTestDatabase, config: dict[str, Any], name: str
) -> None:
    with pg.connect() as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg.schema)))
        connection.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(pg.schema, "victim")))
    hostile_field = "'); DROP TABLE victim; --"
    properties = {**CHARGE_PROPERTIES, name: {"type": "integer"}, hostile_field: {"type": "string"}}
    catalog = catalog_of(stripe_stream(name, properties))
    setup(config, catalog)
    output = write(
        config,
        catalog,
        [record(name, obj("ch_1", 5, **{name: 42, hostile_field: "text"})), stream_state(name, {})],
    )
    assert errors(output) == []
    assert len(states(output)) == 1
    columns = ", ".join(sql.Identifier(column_name(n)).as_string() for n in (name, hostile_field))
    assert select(pg, table_name(name), columns) == [(42, "text")]
    assert _table_exists(pg, "victim")


def _table_exists(pg: PgTestDatabase, table: str) -> bool:
    with pg.connect() as connection:
        found = connection.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s", (pg.schema, table)
        ).fetchone()
    return found is not None


def test_setup_refuses_a_table_it_did_not_create(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    with pg.connect() as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(pg.schema)))
        connection.execute(sql.SQL("CREATE TABLE {} (id text)").format(sql.Identifier(pg.schema, "charge")))
    with pytest.raises(StreamLayoutError, match="was not created by the postgres destination"):
        setup(config, catalog_of(stripe_stream()))


def test_setup_refuses_a_changed_primary_key(config: dict[str, Any]) -> None:
    setup(config, catalog_of(stripe_stream()))
    rekeyed = stripe_stream().model_copy(update={"primary_key": [["id"]]})
    with pytest.raises(StreamLayoutError, match="cannot change in place"):
        setup(config, catalog_of(rekeyed))
