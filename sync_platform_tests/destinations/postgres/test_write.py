"""The write path: newer wins, deletes stay deleted, duplicates collapse, odd values never fail a batch."""

from __future__ import annotations

import math
from typing import Any

import pytest

from sync_platform.destinations.postgres import ProtectedSchemaError, row_count
from sync_platform.protocol import Message, record, stream_state
from sync_platform_tests.destinations.postgres.conftest import (
    ACCOUNT,
    CHARGE_PROPERTIES,
    catalog_of,
    errors,
    flush_stats,
    logs,
    obj,
    select,
    state_streams,
    states,
    stripe_stream,
    totals,
    version,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

CATALOG = catalog_of(stripe_stream())


def rows(pg: PgTestDatabase) -> list[tuple[Any, ...]]:
    """``(id, amount, unix seconds)`` of every charge."""
    return [(i, a, int(t.timestamp())) for i, a, t in select(pg, "charge", "id, amount, _updated_at")]


def test_a_newer_version_updates_the_row(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    write(config, CATALOG, [version("charge", "ch_1", 10, amount=1)])
    output = write(config, CATALOG, [version("charge", "ch_1", 20, amount=2)])
    assert rows(pg) == [("ch_1", 2, 20)]
    assert totals(output) == {"records": 1, "inserted": 0, "updated": 1, "skipped_stale": 0, "deleted": 0}


def test_an_older_update_after_a_newer_one_is_skipped(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    write(config, CATALOG, [version("charge", "ch_1", 20, amount=2)])
    output = write(config, CATALOG, [version("charge", "ch_1", 10, amount=1)])
    assert rows(pg) == [("ch_1", 2, 20)]
    assert totals(output)["skipped_stale"] == 1


def test_equal_timestamps_resolve_to_the_same_row_in_either_order(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    first, second = version("charge", "ch_1", 10, amount=1), version("charge", "ch_1", 10, amount=2)
    write(config, CATALOG, [first])
    write(config, CATALOG, [second])
    one_way = select(pg, "charge", "_raw_data")
    with pg.connect() as connection:
        connection.execute(f'TRUNCATE "{pg.schema}".charge')
    write(config, CATALOG, [second])
    write(config, CATALOG, [first])
    assert select(pg, "charge", "_raw_data") == one_way


def test_an_identical_replay_writes_nothing(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    """Re-delivered webhooks and resumed batches must not rewrite rows (no WAL churn, reference bug #17)."""
    write(config, CATALOG, [version("charge", "ch_1", 10, amount=1)])
    synced_at = select(pg, "charge", "_synced_at")
    output = write(config, CATALOG, [version("charge", "ch_1", 10, amount=1)])
    assert select(pg, "charge", "_synced_at") == synced_at
    assert totals(output)["skipped_stale"] == 1


def test_a_tombstone_not_older_than_the_row_deletes_it(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    write(config, CATALOG, [version("charge", "ch_1", 10), version("charge", "ch_2", 10)])
    output = write(
        config,
        CATALOG,
        [version("charge", "ch_1", 10, deleted=True), version("charge", "ch_2", 11, deleted=True)],
    )
    assert rows(pg) == []
    assert totals(output)["deleted"] == 2


def test_a_tombstone_older_than_the_row_is_ignored(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    write(config, CATALOG, [version("charge", "ch_1", 20, amount=2)])
    output = write(config, CATALOG, [version("charge", "ch_1", 10, deleted=True)])
    assert rows(pg) == [("ch_1", 2, 20)]
    assert totals(output)["skipped_stale"] == 1
    assert select(pg, "_sync_tombstones", "key") == []


def test_a_deleted_object_stays_deleted_when_an_older_update_arrives_late(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    """Reference bug #19: a hard delete left no trace, so a late update resurrected the row."""
    write(config, CATALOG, [version("charge", "ch_1", 10, amount=1)])
    write(config, CATALOG, [version("charge", "ch_1", 30, deleted=True)])
    output = write(
        config, CATALOG, [version("charge", "ch_1", 20, amount=2), version("charge", "ch_1", 30, amount=3)]
    )
    assert rows(pg) == []
    assert totals(output)["skipped_stale"] == 2
    assert select(pg, "_sync_tombstones", "table_name, key") == [("charge", ["ch_1", ACCOUNT])]


def test_a_genuinely_newer_version_recreates_a_deleted_object(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    write(config, CATALOG, [version("charge", "ch_1", 30, deleted=True)])
    output = write(config, CATALOG, [version("charge", "ch_1", 31, amount=4)])
    assert rows(pg) == [("ch_1", 4, 31)]
    assert totals(output)["inserted"] == 1
    assert select(pg, "_sync_tombstones", "key") == []  # the deletion is superseded


def test_duplicate_ids_in_one_batch_keep_the_newest_version(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    """PostgreSQL refuses to touch a row twice in one statement (reference bug #18)."""
    batch = [version("charge", "ch_1", t, amount=t) for t in (5, 9, 7)]
    batch += [
        version("charge", "ch_2", 1),
        version("charge", "ch_2", 2, deleted=True),
        version("charge", "ch_2", 1),
    ]
    output = write(config, CATALOG, [*batch, stream_state("charge", {"page": 1})])
    assert errors(output) == []
    assert rows(pg) == [("ch_1", 9, 9)]
    assert totals(output) == {"records": 6, "inserted": 1, "updated": 0, "skipped_stale": 4, "deleted": 1}


def test_each_flush_reports_its_counts_in_a_log_message(config: dict[str, Any]) -> None:
    config = {**config, "batch_size": 2}
    batch = [version("charge", f"ch_{i}", 10) for i in range(3)]
    output = write(config, CATALOG, [*batch, version("charge", "ch_0", 5), stream_state("charge", {})])
    stats = flush_stats(output)
    assert [(s["records"], s["inserted"], s["skipped_stale"]) for s in stats] == [(2, 2, 0), (2, 1, 1)]
    for entry in stats:
        assert entry["stream"] == "charge"
        assert entry["where"].endswith(".charge")
        assert (
            entry["inserted"] + entry["updated"] + entry["skipped_stale"] + entry["deleted"]
            == entry["records"]
        )
    [summary] = [m for m in logs(output, "info") if m.log.message.startswith("postgres: wrote")]
    assert summary.log.data == {
        "streams": {"charge": {"records": 4, "inserted": 3, "updated": 0, "skipped_stale": 1, "deleted": 0}}
    }


def test_records_and_states_come_back_in_input_order(config: dict[str, Any]) -> None:
    messages: list[Message] = [
        version("charge", "ch_1", 1),
        stream_state("charge", {"n": 1}),
        version("charge", "ch_2", 1),
    ]
    output = write(config, CATALOG, [*messages, stream_state("charge", {"n": 2})])
    assert [m for m in output if m.type != "log"] == [*messages, stream_state("charge", {"n": 2})]


def test_a_value_of_the_wrong_type_is_kept_raw_with_one_warning_per_column(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    config = {**config, "batch_size": 2}
    batch = [version("charge", f"ch_{i}", 1, amount="not a number", paid="yes") for i in range(5)]
    output = write(
        config, CATALOG, [*batch, version("charge", "ch_9", 1, amount=9), stream_state("charge", {})]
    )
    assert errors(output) == []
    assert len(states(output)) == 1
    warnings = [m.log.data for m in logs(output, "warn")]
    assert warnings == [
        {"stream": "charge", "column": "amount", "expected": "bigint", "got": "string"},
        {"stream": "charge", "column": "paid", "expected": "boolean", "got": "string"},
    ]
    stored = select(pg, "charge", "id, amount, paid, _raw_data->>'amount'")
    assert stored[0] == ("ch_0", None, None, "not a number")
    assert stored[-1] == ("ch_9", 9, None, "9")
    again = write(config, CATALOG, [version("charge", "ch_1", 2, amount="again")])
    assert len(logs(again, "warn")) == 1  # one warning per column per run, not per lifetime


def test_values_postgresql_cannot_store_are_repaired_with_a_warning(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    data = obj("ch_\x00nul", 1, description="nul\x00and lone \ud800 surrogate", amount=math.nan)
    output = write(config, CATALOG, [record("charge", data), stream_state("charge", {})])
    assert errors(output) == []
    assert len(states(output)) == 1
    assert select(pg, "charge", "id, description, amount") == [
        ("ch_\ufffdnul", "nul\ufffdand lone \ufffd surrogate", None)
    ]
    [warning] = logs(output, "warn")
    assert "replaced by U+FFFD" in warning.log.message


def test_a_record_without_its_key_fails_only_its_stream(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    catalog = catalog_of(stripe_stream("charge"), stripe_stream("customer"))
    broken = {"object": "charge", "_account_id": ACCOUNT, "_updated_at": 1}
    output = write(
        config,
        catalog,
        [
            version("charge", "ch_1", 1),
            record("charge", broken),
            version("customer", "cus_1", 1),
            stream_state("charge", {"page": 1}),
            stream_state("customer", {"page": 1}),
        ],
    )
    [error] = errors(output)
    assert error.stream == "charge"
    assert "primary key field 'id' is missing" in error.error
    assert state_streams(output) == ["customer"]
    assert row_count(config, "charge") == 0  # nothing of the failed batch
    assert row_count(config, "customer") == 1


def test_a_record_without_updated_at_fails_its_stream_with_the_fix(config: dict[str, Any]) -> None:
    output = write(config, CATALOG, [record("charge", {"id": "ch_1", "_account_id": ACCOUNT})])
    [error] = errors(output)
    assert "no usable `_updated_at`" in error.error
    assert "fix the source" in error.error


def test_row_count_counts_per_account(config: dict[str, Any]) -> None:
    other = {**obj("ch_1", 1), "_account_id": "acct_other"}
    write(
        config, CATALOG, [version("charge", "ch_1", 1), version("charge", "ch_2", 1), record("charge", other)]
    )
    assert row_count(config, "charge") == 3
    assert row_count(config, "charge", account_id=ACCOUNT) == 2


def test_keys_with_copy_control_characters_and_non_string_ids_round_trip(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    odd = ["tab\there", "new\nline", "back\\slash", "quote'\"", "ünï"]
    batch = [version("charge", key, 1) for key in odd]
    batch.append(record("charge", {**obj("ignored", 1), "id": 42}))
    output = write(config, CATALOG, [*batch, version("charge", "tab\there", 2, deleted=True)])
    assert errors(output) == []
    assert {row[0] for row in select(pg, "charge", "id")} == {*odd[1:], "42"}


def test_write_refuses_a_system_schema_before_touching_it(config: dict[str, Any]) -> None:
    with pytest.raises(ProtectedSchemaError, match="one of PostgreSQL's own schemas"):
        write({**config, "schema": "pg_catalog"}, CATALOG, [version("charge", "ch_1", 1)])


def test_objects_of_a_dict_subclass_fill_their_typed_json_columns(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    """A source that hands over OrderedDicts (the stripe SDK's parse) still gets typed jsonb columns."""
    from collections import OrderedDict

    stream = stripe_stream(properties={**CHARGE_PROPERTIES, "metadata": {"type": ["object", "null"]}})
    write(config, catalog_of(stream), [version("charge", "ch_1", 10, metadata=OrderedDict(order="42"))])
    assert select(pg, "charge", "metadata") == [({"order": "42"},)]


def test_a_record_built_in_python_with_non_string_keys_or_huge_integers_is_stored(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    """Parsed JSON has only string keys and 64-bit integers; a record built in Python may not."""
    stream = stripe_stream(properties={**CHARGE_PROPERTIES, "metadata": {"type": ["object", "null"]}})
    write(
        config,
        catalog_of(stream),
        [
            version("charge", "ch_keys", 10, metadata={1: "one", None: "none"}),
            version("charge", "ch_huge", 10, metadata={"big": 2**70}),
        ],
    )
    assert dict(select(pg, "charge", "id, metadata")) == {
        "ch_keys": {"1": "one", "null": "none"},
        "ch_huge": {"big": 2**70},
    }
