"""The service's view of a pipeline's Dagster runs: found by tag, counted by tags, linked to the UI."""

from __future__ import annotations

import dagster as dg

from sync_platform.defs.run_history import DagsterRunHistory
from sync_platform.defs.stream_metadata import (
    StreamTally,
    materialization_metadata,
    pipeline_page_url,
    summarize_cursor,
)
from sync_platform.defs.tags import BATCHES_TAG, LANE_TAG, PIPELINE_TAG, RECORDS_TAG
from sync_platform.pipelines.run_log import RunOrigin, RunOutcome
from sync_platform.service.console.views import position_in_words


@dg.op
def noop() -> None:
    return None


@dg.job
def tagged_job() -> None:
    noop()


def test_dagster_runs_of_a_pipeline_are_listed_with_their_lane_counts_and_link() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        tags = {PIPELINE_TAG: "shop", LANE_TAG: "backfill", BATCHES_TAG: "3", RECORDS_TAG: "1200"}
        result = tagged_job.execute_in_process(instance=instance, tags=tags)
        tagged_job.execute_in_process(instance=instance, tags={PIPELINE_TAG: "other"})
        history = DagsterRunHistory(dagster_url="http://127.0.0.1:3000/", instance=lambda: instance)

        [run] = history.recent_runs("shop", 10)

    assert (run.id, run.origin, run.status) == (result.run_id, RunOrigin.DAGSTER, RunOutcome.SUCCEEDED)
    assert (run.lanes, run.batches, run.records) == (("backfill",), 3, 1200)
    assert run.url == f"http://127.0.0.1:3000/runs/{result.run_id}"
    assert run.started_at is not None
    assert run.finished_at is not None


def test_each_materialization_links_back_to_its_pipeline_page(monkeypatch: object) -> None:
    import os

    os.environ.pop("SYNC_PLATFORM_CONSOLE_URL", None)
    assert pipeline_page_url("shop") == "http://127.0.0.1:8080/console/pipelines/shop"
    os.environ["SYNC_PLATFORM_CONSOLE_URL"] = "https://sync.example.com/"
    try:
        metadata = materialization_metadata(
            StreamTally("customer"), pipeline_id="shop", lane="backfill", row_count=3
        )
    finally:
        del os.environ["SYNC_PLATFORM_CONSOLE_URL"]
    assert metadata["sync/pipeline"] == dg.MetadataValue.url(
        "https://sync.example.com/console/pipelines/shop"
    )


def test_a_connect_checkpoint_with_accounts_not_read_yet_is_shown_as_not_complete() -> None:
    """A Connect stream's lanes not read yet are named under `unread`, not as ranges: the UI's
    checkpoint summary (and the console's words for it) still say the stream has work left."""
    window = {"gte": "2024-01-01T00:00:00Z", "lt": "2024-02-01T00:00:00Z"}
    starting = {
        "accounted_range": window,
        "remaining": [],
        "unread": ["acct_a", "acct_b"],
        "listed": 0,
        "accounts": {},
    }
    summary = summarize_cursor(starting)
    assert summary["complete"] is False
    assert summary["unread_accounts"] == 2
    assert position_in_words(starting) == "0 listed, 2 account(s) not started"
    done = {**starting, "unread": [], "listed": 12, "accounts": {"acct_a": 5, "acct_b": 7}}
    assert summarize_cursor(done)["complete"] is True
    assert "unread_accounts" not in summarize_cursor(done)
    assert position_in_words(done) == "12 listed, complete"
