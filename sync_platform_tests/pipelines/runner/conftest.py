"""A Stripe (emulator) -> PostgreSQL pipeline in a real store, and a runner for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from sync_platform.emulator import RunningEmulator
from sync_platform.engine import Engine
from sync_platform.pipelines import PipelineCreate, PipelineStore
from sync_platform.pipelines.runner import PipelineRunner, RunEvent
from sync_platform_tests.plugins.postgres import PgTestDatabase

STREAMS = ["customer", "invoice", "product"]


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=0, counts={"customer": 230, "invoice": 60, "product": 40}, seed=7)


@pytest.fixture
def store(
    pg: PgTestDatabase, emulator: RunningEmulator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PipelineStore]:
    monkeypatch.setenv("TEST_STRIPE_KEY", emulator.secret_key)
    monkeypatch.setenv("TEST_WAREHOUSE_URL", pg.url)
    with PipelineStore(pg.url, schema=pg.schema, reconnect_seconds=20) as opened:
        yield opened


@pytest.fixture
def runner(store: PipelineStore) -> PipelineRunner:
    return PipelineRunner(store, Engine(), holder="pytest runner")


def create_pipeline(
    store: PipelineStore, emulator: RunningEmulator, pg: PgTestDatabase, *, pipeline_id: str = "shop",
    streams: list[str] | None = STREAMS, **source: Any,
) -> str:  # fmt: skip
    store.create(
        PipelineCreate.model_validate(
            {
                "id": pipeline_id,
                "source": {
                    "type": "stripe",
                    "stripe": {
                        "api_key": {"env": "TEST_STRIPE_KEY"},
                        "base_url": emulator.base_url,
                        **source,
                    },
                },
                "destination": {
                    "type": "postgres",
                    "postgres": {"url": {"env": "TEST_WAREHOUSE_URL"}, "schema": f"{pg.schema}_dest"},
                },
                "streams": streams,
            }
        )
    )
    return pipeline_id


def rows(pg: PgTestDatabase, stream: str) -> dict[str, Any]:
    """``id -> _raw_data`` of the destination table (empty when the table does not exist)."""
    with psycopg.connect(pg.url) as connection:
        try:
            found = connection.execute(
                sql.SQL("SELECT id, _raw_data FROM {}.{}").format(
                    sql.Identifier(f"{pg.schema}_dest"), sql.Identifier(stream)
                )
            ).fetchall()
        except psycopg.errors.UndefinedTable:
            return {}
    return {row[0]: row[1] for row in found}


def drain(events: Iterator[RunEvent]) -> list[RunEvent]:
    return list(events)
