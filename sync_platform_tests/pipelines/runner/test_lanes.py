"""Every lane through the real runner: Stripe emulator -> PostgreSQL, statuses and checkpoints as stored."""

from __future__ import annotations

import threading
import time

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.pipelines import CheckpointLane, DesiredStatus, DisplayStatus, PipelineStore
from sync_platform.pipelines.runner import (
    BatchCommitted,
    CheckpointSaved,
    EngineMessage,
    Lane,
    LaneFinished,
    PipelineNotRunnableError,
    PipelineRunner,
    RunOptions,
    StatusChanged,
    checkpoint_writer,
    default_lanes,
)
from sync_platform.protocol import StreamComplete, StreamStatusMessage
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain, rows
from sync_platform_tests.plugins.postgres import PgTestDatabase

WEBHOOK_SECRET = "whsec_" + "runner_tests_0123456789abcdef"


def live_ids(emulator: RunningEmulator, stream: str) -> set[str]:
    return {obj["id"] for obj in emulator.objects(stream)}


def backfill(runner: PipelineRunner, pipeline_id: str, **options: object) -> list[object]:
    return drain(runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(**options)))  # type: ignore[arg-type]


def test_a_backfill_sets_up_lists_every_stream_and_ends_ready(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)

    events = backfill(runner, pipeline_id, state_limit=2)

    statuses = [(e.before, e.after) for e in events if isinstance(e, StatusChanged)]
    assert statuses == [
        (DisplayStatus.SETTING_UP, DisplayStatus.BACKFILLING),
        (DisplayStatus.BACKFILLING, DisplayStatus.READY),
    ]
    for stream in ("customer", "invoice", "product"):
        assert set(rows(pg, stream)) == live_ids(emulator, stream)
    finished = [e for e in events if isinstance(e, LaneFinished)]
    assert [(f.complete, f.reason) for f in finished] == [(True, "every stream is backfilled")]
    batches = [e for e in events if isinstance(e, BatchCommitted)]
    assert len(batches) > 1
    for saved in (e for e in events if isinstance(e, CheckpointSaved)):  # mid-batch, as pages commit
        assert saved.state.sync_run.run_id == batches[-1].eof.ending_state.sync_run.run_id
    stored = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL)
    assert stored.state == batches[-1].eof.ending_state.model_dump(mode="json", by_alias=True)


def test_a_streams_end_is_told_only_once_its_final_checkpoint_is_stored(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every save rests hours before the next (a big state's rest, stretched): without the save at
    # a stream's end, the store would keep the batch's first save until the batch ended, and
    # whatever reads it on that status (Dagster's account counts) would see the stream unfinished.
    monkeypatch.setattr(checkpoint_writer, "SMALL_WRITE", 0.0)
    monkeypatch.setattr(checkpoint_writer, "WRITE_PACING", 1e7)
    pipeline_id = create_pipeline(store, emulator, pg)
    ended: list[str] = []
    for event in runner.run(pipeline_id, [Lane.BACKFILL]):
        if not isinstance(event, EngineMessage) or not isinstance(event.message, StreamStatusMessage):
            continue
        status = event.message.stream_status
        if isinstance(status, StreamComplete):
            stored = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
            assert stored is not None
            assert stored["source"]["streams"][status.stream]["remaining"] == [], status.stream
            ended.append(status.stream)
    assert sorted(ended) == ["customer", "invoice", "product"]


def test_once_ready_a_run_without_a_lane_applies_the_inbox_and_polls_nothing_twice(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    pipeline_id = create_pipeline(store, emulator, pg, webhook_secret={"env": "TEST_WEBHOOK_SECRET"})
    backfill(runner, pipeline_id)
    assert default_lanes(store.get(pipeline_id)) == [Lane.LIVE]
    renamed, deleted = (c["id"] for c in emulator.objects("customer")[:2])
    for result in (emulator.update("customer", renamed, {"name": "Renamed by a webhook"}),
                   emulator.delete("customer", deleted)):  # fmt: skip
        store.insert_inbox_event(pipeline_id, result.event["id"], result.event["type"], result.event)

    events = drain(runner.run(pipeline_id))

    applied = sum(e.events_applied for e in events if isinstance(e, BatchCommitted))
    assert applied == 2
    assert rows(pg, "customer")[renamed]["name"] == "Renamed by a webhook"
    assert deleted not in rows(pg, "customer")
    assert set(rows(pg, "customer")) == live_ids(emulator, "customer")
    assert store.count_pending_inbox(pipeline_id) == 0
    assert store.get_checkpoint(pipeline_id, CheckpointLane.LIVE).version == 1
    assert drain(runner.run(pipeline_id, [Lane.LIVE]))[-1] == LaneFinished(
        Lane.LIVE, True, "every pending event is applied", 0
    )


def test_the_poll_lane_applies_updates_and_deletes_from_the_events_api_exactly_once(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)  # no webhooks: polling is how it stays current
    backfill(runner, pipeline_id)
    assert default_lanes(store.get(pipeline_id)) == [Lane.POLL]
    time.sleep(1.1 - time.time() % 1)  # next second: a change in the backfill's second ties with it
    renamed, deleted = (c["id"] for c in emulator.objects("customer")[:2])
    emulator.update("customer", renamed, {"name": "Renamed, seen by polling"})
    emulator.delete("customer", deleted)
    created = emulator.create("customer", {"name": "Created after the backfill"}).object["id"]

    drain(runner.run(pipeline_id))

    customers = rows(pg, "customer")
    assert customers[renamed]["name"] == "Renamed, seen by polling"
    assert deleted not in customers
    assert customers[created]["name"] == "Created after the backfill"
    assert set(customers) == live_ids(emulator, "customer")
    emulator.requests.clear()
    again = drain(runner.run(pipeline_id))  # nothing new: one events page, no rows touched
    assert (
        sum(e.eof.request_progress.derived.total_record_count for e in again if isinstance(e, BatchCommitted))
        == 0
    )
    assert {entry.path for entry in emulator.requests.entries()} == {"/v1/events"}


def test_a_reset_of_two_streams_forgets_only_their_checkpoints(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    backfill(runner, pipeline_id)
    before = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert before is not None
    emulator.requests.clear()

    backfill(runner, pipeline_id, streams=["customer", "invoice"], reset_state=True)

    listed = {entry.path for entry in emulator.requests.entries()}
    assert {"/v1/customers", "/v1/invoices"} <= listed
    assert "/v1/products" not in listed  # its checkpoint was kept: nothing to read
    after = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL).state
    assert after is not None
    assert after["source"]["streams"]["product"] == before["source"]["streams"]["product"]
    assert after["source"]["global"] == before["source"]["global"]  # the events cursor is kept


def test_reconcile_replays_recent_changes_without_moving_any_checkpoint(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    backfill(runner, pipeline_id)
    drain(runner.run(pipeline_id, [Lane.POLL]))
    checkpoints = {lane: store.get_checkpoint(pipeline_id, lane) for lane in CheckpointLane}
    missed = emulator.objects("customer")[0]["id"]
    emulator.update("customer", missed, {"name": "A change whose webhook was lost"})

    drain(runner.run(pipeline_id, [Lane.RECONCILE]))

    assert rows(pg, "customer")[missed]["name"] == "A change whose webhook was lost"
    assert {lane: store.get_checkpoint(pipeline_id, lane) for lane in CheckpointLane} == checkpoints


def test_a_pause_stops_the_backfill_at_the_next_batch_and_the_end_of_the_run_reports_paused(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    events = runner.run(pipeline_id, [Lane.BACKFILL], RunOptions(state_limit=1))
    for event in events:
        if isinstance(event, BatchCommitted):
            store.pause(pipeline_id)  # the user pauses while the first batch commits
            break
    finished = [e for e in events if isinstance(e, LaneFinished)]

    assert finished[0].complete is False
    assert finished[0].reason == "the pipeline was paused while it ran"
    assert store.get(pipeline_id).display_status is DisplayStatus.PAUSED
    with pytest.raises(PipelineNotRunnableError, match="it is paused; resume it first"):
        drain(runner.run(pipeline_id))
    store.resume(pipeline_id)
    drain(runner.run(pipeline_id))
    assert store.get(pipeline_id).display_status is DisplayStatus.READY
    assert set(rows(pg, "customer")) == live_ids(emulator, "customer")


def test_the_live_lanes_wait_for_the_backfill(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = create_pipeline(store, emulator, pg)
    for lane in (Lane.LIVE, Lane.POLL, Lane.RECONCILE):
        with pytest.raises(PipelineNotRunnableError, match="its backfill has not finished"):
            drain(runner.run(pipeline_id, [lane], RunOptions(force=True)))
    assert store.get(pipeline_id).desired_status is DesiredStatus.ACTIVE
    assert emulator.requests.entries() == []


def test_fields_the_sdk_does_not_know_reach_raw_data_in_the_backfill_and_the_live_path(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    """Stripe adds fields between SDK releases; `_raw_data` is the object as Stripe sent it."""
    listed, changed = (c["id"] for c in emulator.objects("customer")[:2])
    emulator.update("customer", listed, {"account_balance": 1200, "brand_new_field": {"nested": True}})
    pipeline_id = create_pipeline(store, emulator, pg)
    backfill(runner, pipeline_id)
    time.sleep(1.1 - time.time() % 1)
    emulator.update("customer", changed, {"brand_new_field": "seen by the poll"})

    drain(runner.run(pipeline_id, [Lane.POLL]))

    customers = rows(pg, "customer")
    assert customers[listed]["account_balance"] == 1200
    assert customers[listed]["brand_new_field"] == {"nested": True}
    assert customers[changed]["brand_new_field"] == "seen by the poll"


def test_a_live_batch_is_never_cut_by_the_state_limit_so_no_claimed_event_is_lost(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    pipeline_id = create_pipeline(store, emulator, pg, webhook_secret={"env": "TEST_WEBHOOK_SECRET"})
    backfill(runner, pipeline_id)
    renamed = [c["id"] for c in emulator.objects("customer")[:150]]  # more than one checkpoint's worth
    for customer in renamed:
        change = emulator.update("customer", customer, {"name": f"renamed {customer}"})
        store.insert_inbox_event(pipeline_id, change.event["id"], change.event["type"], change.event)

    drain(runner.run(pipeline_id, [Lane.LIVE], RunOptions(state_limit=1)))

    customers = rows(pg, "customer")
    assert [customers[c]["name"] for c in renamed] == [f"renamed {c}" for c in renamed]
    assert store.count_pending_inbox(pipeline_id) == 0


def test_a_caller_that_stops_mid_batch_keeps_what_committed_and_leaves_nothing_running(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    """Ctrl-C in the CLI, or an HTTP client that goes away: the run ends at once, cleanly."""
    pipeline_id = create_pipeline(store, emulator, pg)
    events = runner.run(pipeline_id, [Lane.BACKFILL])
    for event in events:
        if isinstance(event, CheckpointSaved):
            break
    events.close()

    assert not [t for t in threading.enumerate() if t.name.startswith("checkpoints ")]
    saved = store.get_checkpoint(pipeline_id, CheckpointLane.BACKFILL)
    assert saved.version >= 1
    drain(runner.run(pipeline_id))  # the run lock was released: the next run resumes and finishes
    assert set(rows(pg, "customer")) == live_ids(emulator, "customer")
