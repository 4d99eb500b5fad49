"""Retention: applied webhook events and remembered deletes are pruned by age, pending ones never."""

from __future__ import annotations

from typing import Any

import pytest
from psycopg import sql

from sync_platform.emulator import RunningEmulator
from sync_platform.errors import ConfigError
from sync_platform.pipelines import PipelineStore
from sync_platform.pipelines.runner import Housekept, Lane, PipelineRunner, Retention
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain
from sync_platform_tests.plugins.postgres import PgTestDatabase

WEBHOOK_SECRET = "whsec_" + "retention_tests_0123456789"


def inbox_ages(store: PipelineStore, pipeline_id: str) -> dict[str, tuple[bool, int]]:
    """``event_id -> (processed, age in days)``."""

    def read(tx: Any) -> dict[str, tuple[bool, int]]:
        rows = tx.connection.execute(
            sql.SQL(
                "SELECT event_id, processed_at IS NOT NULL AS done, "
                "extract(day FROM now() - coalesce(processed_at, received_at))::int AS age FROM {} "
                "WHERE pipeline_id = %s"
            ).format(tx.tables.inbox),
            (pipeline_id,),
        ).fetchall()
        return {row["event_id"]: (row["done"], row["age"]) for row in rows}

    return store.atomically(read)


def age(store: PipelineStore, event_id: str, days: int, *, processed: bool) -> None:
    column = "processed_at" if processed else "received_at"

    def write(tx: Any) -> None:
        tx.connection.execute(
            sql.SQL("UPDATE {} SET {} = now() - make_interval(days => %s) WHERE event_id = %s").format(
                tx.tables.inbox, sql.Identifier(column)
            ),
            (days, event_id),
        )

    store.atomically(write)


def test_the_reconcile_lane_prunes_applied_events_past_their_retention_and_keeps_pending_ones(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    pipeline_id = create_pipeline(store, emulator, pg, webhook_secret={"env": "TEST_WEBHOOK_SECRET"})
    drain(runner.run(pipeline_id))
    customers = [c["id"] for c in emulator.objects("customer")[:3]]
    events = [emulator.update("customer", c, {"name": f"renamed {c}"}).event for c in customers]
    for event in events[:2]:
        store.insert_inbox_event(pipeline_id, event["id"], event["type"], event)
    drain(runner.run(pipeline_id, [Lane.LIVE]))  # the first two are applied
    store.insert_inbox_event(pipeline_id, events[2]["id"], events[2]["type"], events[2])  # pending
    age(store, events[0]["id"], 8, processed=True)  # applied 8 days ago: past the 7-day retention
    age(store, events[1]["id"], 6, processed=True)  # applied 6 days ago: kept
    age(store, events[2]["id"], 40, processed=False)  # waiting for 40 days: never pruned

    done = [e for e in drain(runner.run(pipeline_id, [Lane.RECONCILE])) if isinstance(e, Housekept)]

    assert [event.inbox_rows for event in done] == [1]
    assert inbox_ages(store, pipeline_id) == {events[1]["id"]: (True, 6), events[2]["id"]: (False, 40)}


def test_retention_comes_from_the_environment_and_refuses_a_tombstone_horizon_within_stripes() -> None:
    assert Retention.from_environ({}) == Retention(inbox_days=7, tombstone_days=45)
    assert Retention.from_environ({"SYNC_PLATFORM_INBOX_RETENTION_DAYS": "2"}).inbox_days == 2
    with pytest.raises(ConfigError, match="within Stripe's 30-day event retention"):
        Retention.from_environ({"SYNC_PLATFORM_TOMBSTONE_RETENTION_DAYS": "20"})
    with pytest.raises(ConfigError, match="must be a positive number of days, not 'soon'"):
        Retention.from_environ({"SYNC_PLATFORM_INBOX_RETENTION_DAYS": "soon"})
