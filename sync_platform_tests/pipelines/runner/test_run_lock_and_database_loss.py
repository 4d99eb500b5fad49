"""One run per pipeline before any work, and runs that outlive the app database dropping them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from sync_platform.embedded_postgres import ensure_database
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import Engine
from sync_platform.pipelines import (
    DisplayStatus,
    PipelineBusyError,
    PipelineCreate,
    PipelineStore,
    StoreUnavailableError,
)
from sync_platform.pipelines.run_lock import LOCK_APPLICATION
from sync_platform.pipelines.runner import BatchCommitted, CheckpointSaved, PipelineRunner, RunOptions
from sync_platform.pipelines.store import STORE_APPLICATION
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain, rows
from sync_platform_tests.plugins.postgres import PgTestDatabase


def test_a_second_run_is_refused_before_any_request_naming_the_run_that_holds_the_pipeline(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    emulator.requests.clear()

    holder = store.run_lock(pipeline_id, holder="Dagster run 1f2e3d4c", lane="backfill")
    with holder, pytest.raises(PipelineBusyError) as refused:
        drain(runner.run(pipeline_id))

    assert "is being synced by Dagster run 1f2e3d4c (backfill lane, since " in str(refused.value)
    assert emulator.requests.entries() == []  # not one Stripe request
    assert store.get(pipeline_id).display_status is DisplayStatus.SETTING_UP  # nothing ran
    drain(runner.run(pipeline_id))  # released: the next run goes ahead
    assert store.get(pipeline_id).display_status is DisplayStatus.READY


def terminate(url: str, application: str) -> int:
    """Drop every connection of ``application``, as a restarting or failing-over database does."""
    with psycopg.connect(url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (application,),
        ).fetchone()
    return int(row[0]) if row else 0


def test_a_run_whose_app_database_drops_every_connection_reconnects_and_ends_exact(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    dropped = 0
    events = runner.run(pipeline_id, options=RunOptions(state_limit=2))
    for event in events:
        if isinstance(event, CheckpointSaved | BatchCommitted) and dropped < 3:
            dropped += 1  # three times, mid-batch and between batches
            assert terminate(pg.url, STORE_APPLICATION) + terminate(pg.url, LOCK_APPLICATION) > 0

    assert dropped == 3
    assert store.get(pipeline_id).display_status is DisplayStatus.READY
    for stream in ("customer", "invoice", "product"):
        assert set(rows(pg, stream)) == {obj["id"] for obj in emulator.objects(stream)}


@pytest.fixture
def lost_database(postgres_url: str) -> Iterator[str]:
    """An app database of its own, so the test can refuse every new connection to it."""
    name = f"lost_{uuid.uuid4().hex[:8]}"
    url = ensure_database(postgres_url, name)
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(name))
        )
        connection.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_database_that_stays_away_is_named_without_its_password_once_the_retries_are_spent(
    lost_database: str, postgres_url: str, emulator: RunningEmulator
) -> None:
    name = psycopg.conninfo.conninfo_to_dict(lost_database)["dbname"]
    with PipelineStore(lost_database, reconnect_seconds=1.5) as store:
        store.create(PipelineCreate.model_validate({"id": "shop", "source": {"type": "fixture"},
                                                    "destination": {"type": "null"}}))  # fmt: skip
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(sql.Identifier(name))
            )
        terminate(postgres_url, STORE_APPLICATION)

        with pytest.raises(StoreUnavailableError) as lost:
            PipelineRunner(store, Engine(), holder="pytest").run("shop").__next__()

    message = str(lost.value)
    assert f"Lost the app database {name!r} on " in message
    assert "could not reconnect within 2 s" in message
    assert "a new run resumes from the last saved checkpoint" in message
    assert "postgres:@" not in message
    assert "password" not in message.lower()
