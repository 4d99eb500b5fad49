"""A long write's memory does not grow with its records: the encoder keeps nothing per record."""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

from sync_platform.destinations.postgres.encoding import RecordEncoder
from sync_platform.destinations.postgres.layout import StreamLayout, stream_layout
from sync_platform.destinations.postgres.type_rules import ColumnKind
from sync_platform.destinations.postgres.writer import StreamWriter
from sync_platform.sources.stripe.catalog import stream_by_name
from sync_platform_tests.destinations.postgres.conftest import catalog_of, stripe_stream, version, write
from sync_platform_tests.plugins.postgres import PgTestDatabase

SAMPLE: dict[ColumnKind, Any] = {
    ColumnKind.TEXT: "text",
    ColumnKind.REFERENCE: "cus_1",
    ColumnKind.BOOLEAN: True,
    ColumnKind.BIGINT: 42,
    ColumnKind.NUMERIC: 1.5,
    ColumnKind.UNIX_TIME: 1_700_000_000,
    ColumnKind.JSON: {"a": 1},
}


def test_records_whose_nulls_vary_leave_no_memory_behind_in_the_encoder() -> None:
    """Stripe objects leave different fields null (a charge without an invoice, a refunded one...):
    on the end-to-end benchmark's data every charge has its own pattern of nulls. Encoding 6,000
    of them, each with its own pattern, holds no more memory at the end than after the first 100."""
    layout = stream_layout(stream_by_name("charge").to_stream(None))
    typed = [column for column in layout.columns if column.kind in SAMPLE]
    assert len(typed) >= 13  # 2**13 > 6,000 patterns
    records = []
    for n in range(6_000):
        data: dict[str, Any] = {"id": f"ch_{n}", "_account_id": "acct_1", "_updated_at": 1_700_000_000}
        for bit, column in enumerate(typed):
            data[column.field] = None if n >> bit & 1 else SAMPLE[column.kind]
        records.append(data)
    encoder = RecordEncoder(layout, typed)

    tracemalloc.start()
    try:
        for data in records[:100]:
            assert encoder.inspect(data) == ([], [])  # every value fits its column: the fast path
        gc.collect()
        held_early = tracemalloc.get_traced_memory()[0]
        for data in records[100:]:
            assert encoder.inspect(data) == ([], [])
        gc.collect()
        held_late = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()

    assert held_late - held_early < 64 * 1024


def test_a_write_leaves_no_reference_cycle_behind(pg: PgTestDatabase, config: dict[str, Any]) -> None:
    """What a write holds (each stream's layout, encoder and statements) is freed by reference
    counting as the write ends. In a reference cycle (the commit fence held a bound method of the
    writer that held it) it waited for a full collection, which the raised collector thresholds
    make rare: a long run kept every batch's. With the automatic collector off, nothing is left."""

    def held() -> set[int]:
        return {id(found) for found in gc.get_objects() if type(found) in (StreamWriter, StreamLayout)}

    gc.collect()
    gc.disable()
    try:
        before = held()  # other tests' layouts, still referenced
        write(config, catalog_of(stripe_stream()), [version("charge", "ch_1", 10, amount=1)])
        left = held() - before
    finally:
        gc.enable()
    assert left == set()
