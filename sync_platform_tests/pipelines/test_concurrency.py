"""Two writers at once (the CLI and the platform) never lose an update, and conflicts are explicit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from sync_platform.pipelines import (
    ConcurrentUpdateError,
    DesiredStatus,
    PipelineCreate,
    PipelineStatus,
    PipelineStore,
    PipelineUpdate,
    StreamSelection,
    TransitionError,
    transaction,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

S = PipelineStatus


def create(store: PipelineStore, pipeline_id: str = "billing-sync") -> None:
    store.create(
        PipelineCreate.model_validate(
            {
                "id": pipeline_id,
                "source": {"type": "fixture", "fixture": {}},
                "destination": {"type": "null", "null": {}},
            }
        )
    )


def wait_until_a_writer_waits_for_a_row_lock(pg: PgTestDatabase) -> None:
    """Block until some backend of this test's schema waits on a lock (an event, not a timing guess)."""
    deadline = time.monotonic() + 30
    with psycopg.connect(pg.url, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                (f"%{pg.schema}%",),
            ).fetchone()
            if row is not None and row[0] > 0:
                return
            time.sleep(0.01)
    raise AssertionError("no writer ever waited for the row lock")


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_stale_expected_version_is_a_clear_conflict(pipeline_store: PipelineStore) -> None:
    create(pipeline_store)
    seen_by_cli = pipeline_store.get("billing-sync")
    pipeline_store.set_status("billing-sync", S.BACKFILL)  # the platform writes in between

    stale = r"the pipeline was changed by another writer \(you had version 1, it is now 2\)\. Read it again"
    with pytest.raises(ConcurrentUpdateError, match=stale):
        pipeline_store.update(
            "billing-sync",
            PipelineUpdate(streams=[StreamSelection(name="customer")]),
            expected_version=seen_by_cli.version,
        )

    assert pipeline_store.get("billing-sync").streams is None
    retried = pipeline_store.update(
        "billing-sync", PipelineUpdate(streams=[StreamSelection(name="customer")]), expected_version=2
    )
    assert (retried.streams, retried.status) == ([StreamSelection(name="customer")], S.BACKFILL)


def test_a_platform_write_that_loses_the_race_is_reapplied_on_top_of_the_user_change(
    pipeline_store: PipelineStore, pg: PgTestDatabase
) -> None:
    """The platform read version 2, the user's pause committed version 3 while the platform's UPDATE
    waited; the platform re-reads and applies its status to version 3, keeping the pause."""
    create(pipeline_store)
    pipeline_store.set_status("billing-sync", S.BACKFILL)

    with pipeline_store.transaction() as user:
        user.set_desired_status("billing-sync", DesiredStatus.PAUSED)
        platform, outcome = in_thread(lambda: pipeline_store.set_status("billing-sync", S.READY))
        wait_until_a_writer_waits_for_a_row_lock(pg)
    platform.join()

    assert "error" not in outcome
    final = pipeline_store.get("billing-sync")
    assert (final.desired_status, final.status, final.version) == (DesiredStatus.PAUSED, S.READY, 4)
    assert outcome["value"] == final


def test_a_platform_write_racing_a_delete_is_refused_not_applied(
    pipeline_store: PipelineStore, pg: PgTestDatabase
) -> None:
    create(pipeline_store)
    pipeline_store.set_status("billing-sync", S.BACKFILL)

    with pipeline_store.transaction() as user:
        user.set_desired_status("billing-sync", DesiredStatus.DELETED)
        platform, outcome = in_thread(lambda: pipeline_store.set_status("billing-sync", S.READY))
        wait_until_a_writer_waits_for_a_row_lock(pg)
    platform.join()

    assert isinstance(outcome.get("error"), TransitionError)
    final = pipeline_store.get("billing-sync")
    assert (final.desired_status, final.status) == (DesiredStatus.DELETED, S.BACKFILL)


def test_two_writers_hammering_one_pipeline_lose_no_update(pipeline_store: PipelineStore) -> None:
    create(pipeline_store)
    rounds = 20
    statuses = [S.BACKFILL if i % 2 == 0 else S.READY for i in range(rounds)]

    def user() -> list[int]:
        return [
            pipeline_store.update(
                "billing-sync", PipelineUpdate(streams=[StreamSelection(name=f"stream_{i}")])
            ).version
            for i in range(rounds)
        ]

    def platform() -> list[int]:
        return [pipeline_store.set_status("billing-sync", status).version for status in statuses]

    (user_thread, user_out), (platform_thread, platform_out) = in_thread(user), in_thread(platform)
    user_thread.join()
    platform_thread.join()

    assert "error" not in user_out
    assert "error" not in platform_out
    versions = user_out["value"] + platform_out["value"]
    assert sorted(versions) == list(range(2, 2 + 2 * rounds))  # every write got its own version
    final = pipeline_store.get("billing-sync")
    assert final.version == 1 + 2 * rounds
    assert final.streams == [StreamSelection(name=f"stream_{rounds - 1}")]
    assert final.status is statuses[-1]


def test_a_write_that_keeps_losing_gives_up_with_a_clear_conflict(
    pipeline_store: PipelineStore, pg: PgTestDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transaction, "MAX_WRITE_ATTEMPTS", 1)  # lose once, give up
    create(pipeline_store)

    with pipeline_store.transaction() as user:
        user.set_desired_status("billing-sync", DesiredStatus.PAUSED)
        platform, outcome = in_thread(lambda: pipeline_store.set_status("billing-sync", S.BACKFILL))
        wait_until_a_writer_waits_for_a_row_lock(pg)
    platform.join()

    assert isinstance(outcome.get("error"), ConcurrentUpdateError)
    assert "kept changing while this write retried" in str(outcome["error"])
    assert pipeline_store.get("billing-sync").status is S.SETUP
