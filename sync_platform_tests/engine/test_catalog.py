"""Catalog steps: selection, field pruning, time ceilings, skipping finished streams."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sync_platform.engine import (
    UnknownStreamError,
    apply_selection,
    build_catalog,
    exclude_terminal_streams,
    initial_progress,
    with_time_ranges,
)
from sync_platform.protocol import (
    CatalogPayload,
    OpenTimeRange,
    Stream,
    StreamConfig,
    StreamProgress,
    StreamRunStatus,
)

SCHEMA = {
    "type": "object",
    "properties": {p: {"type": "string"} for p in ["id", "name", "email", "phone", "_updated_at"]},
    "required": ["id", "phone"],
}
DISCOVERED = CatalogPayload(
    streams=[
        Stream(name=n, primary_key=[["id"]], json_schema=SCHEMA) for n in ["customer", "invoice", "charge"]
    ]
)
CEILING = datetime(2026, 6, 1, tzinfo=UTC)


def test_no_selection_means_every_discovered_stream_in_order() -> None:
    assert build_catalog(DISCOVERED, None).stream_names() == ["customer", "invoice", "charge"]


def test_selection_keeps_discover_order_and_copies_options() -> None:
    selection = [
        StreamConfig(name="charge", backfill_limit=5),
        StreamConfig(name="customer", fields=["name"]),
    ]
    catalog = build_catalog(DISCOVERED, selection)
    assert catalog.stream_names() == ["customer", "charge"]
    assert catalog.by_name()["charge"].backfill_limit == 5
    assert catalog.by_name()["customer"].fields == ["name"]


def test_an_unknown_selected_stream_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(UnknownStreamError, match="Did you mean 'invoice'"):
        build_catalog(DISCOVERED, [StreamConfig(name="invoices")])


def test_apply_selection_prunes_to_fields_plus_primary_key_and_newer_than_field() -> None:
    catalog = apply_selection(
        build_catalog(DISCOVERED, [StreamConfig(name="customer", fields=["name", "email"])])
    )
    schema = catalog.streams[0].stream.json_schema
    assert schema is not None
    assert list(schema["properties"]) == ["id", "name", "email", "_updated_at"]
    assert schema["required"] == ["id"]
    assert DISCOVERED.streams[0].json_schema == SCHEMA  # input untouched


def test_with_time_ranges_caps_lt_at_the_ceiling_but_keeps_user_bounds() -> None:
    user_lt = datetime(2025, 1, 1, tzinfo=UTC)
    user_gte = datetime(2020, 1, 1, tzinfo=UTC)
    catalog = build_catalog(
        DISCOVERED,
        [
            StreamConfig(name="customer", time_range=OpenTimeRange(gte=user_gte)),
            StreamConfig(name="invoice", time_range=OpenTimeRange(lt=user_lt)),
        ],
    )
    capped = with_time_ranges(catalog, CEILING).by_name()
    assert capped["customer"].time_range == OpenTimeRange(gte=user_gte, lt=CEILING)
    assert capped["invoice"].time_range == OpenTimeRange(lt=user_lt)
    assert with_time_ranges(catalog, None) is catalog


def test_exclude_terminal_streams_drops_completed_skipped_and_errored() -> None:
    progress = initial_progress(["customer", "invoice", "charge"], CEILING)
    streams = dict(progress.streams)
    streams["customer"] = StreamProgress(status=StreamRunStatus.COMPLETED)
    streams["invoice"] = StreamProgress(status=StreamRunStatus.STARTED)
    streams["charge"] = StreamProgress(status=StreamRunStatus.ERRORED)
    progress = progress.model_copy(update={"streams": streams})
    assert exclude_terminal_streams(build_catalog(DISCOVERED, None), progress).stream_names() == ["invoice"]
