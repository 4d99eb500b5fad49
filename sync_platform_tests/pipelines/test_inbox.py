"""The webhook inbox and the receiver's view of a pipeline, as the receiver and Dagster will use them."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.pipelines import (
    CheckpointLane,
    InboxRef,
    InboxSummary,
    PipelineCreate,
    PipelineNotFoundError,
    PipelineStatus,
    PipelineStore,
)
from sync_platform.protocol import SourceState, SyncState
from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET


def event(event_id: str, kind: str = "customer.updated") -> dict[str, Any]:
    return {"id": event_id, "type": kind, "data": {"object": {"id": "cus_1", "object": "customer"}}}


def create(store: PipelineStore, pipeline_id: str, **source: Any) -> None:
    store.create(
        PipelineCreate.model_validate(
            {
                "id": pipeline_id,
                "source": {
                    "type": "secretive",
                    "secretive": {"api_key": {"env": "STRIPE_API_KEY"}, **source},
                },
                "destination": {"type": "null"},
            }
        )
    )


def receive(store: PipelineStore, pipeline_id: str, *event_ids: str) -> list[bool]:
    return [store.insert_inbox_event(pipeline_id, e, "customer.updated", event(e)) for e in event_ids]


@pytest.fixture
def two_pipelines(pipeline_store: PipelineStore) -> PipelineStore:
    create(pipeline_store, "alpha", webhook_secret=WEBHOOK_SECRET)
    create(pipeline_store, "bravo", webhook_secret=WEBHOOK_SECRET)
    return pipeline_store


def test_a_redelivered_event_is_stored_once(two_pipelines: PipelineStore) -> None:
    assert receive(two_pipelines, "alpha", "evt_1", "evt_1") == [True, False]
    assert receive(two_pipelines, "bravo", "evt_1") == [True]  # the same event for another pipeline
    assert two_pipelines.count_pending_inbox("alpha") == 1


def test_an_event_for_an_unknown_pipeline_is_refused(pipeline_store: PipelineStore) -> None:
    with pytest.raises(PipelineNotFoundError, match="'ghost' not found"):
        pipeline_store.insert_inbox_event("ghost", "evt_1", "customer.created", event("evt_1"))


def test_the_sensor_scans_pending_rows_after_its_cursor_in_bounded_windows(
    two_pipelines: PipelineStore,
) -> None:
    receive(two_pipelines, "alpha", "evt_1", "evt_2")
    receive(two_pipelines, "bravo", "evt_3")
    receive(two_pipelines, "alpha", "evt_4")
    ids = [ref.id for ref in two_pipelines.pending_inbox()]

    assert two_pipelines.pending_inbox(after_id=0, limit=2) == [
        InboxRef(ids[0], "alpha"),
        InboxRef(ids[1], "alpha"),
    ]
    assert two_pipelines.pending_inbox(after_id=ids[1], limit=10) == [
        InboxRef(ids[2], "bravo"),
        InboxRef(ids[3], "alpha"),
    ]
    assert two_pipelines.pending_inbox_summary(after_id=0, limit=3) == [
        InboxSummary("alpha", max_id=ids[1], count=2),
        InboxSummary("bravo", max_id=ids[2], count=1),
    ]
    assert two_pipelines.pending_inbox_summary(after_id=ids[3]) == []


def test_a_live_run_claims_applies_and_checkpoints_in_one_unit(two_pipelines: PipelineStore) -> None:
    receive(two_pipelines, "alpha", "evt_1", "evt_2", "evt_3")
    receive(two_pipelines, "bravo", "evt_9")
    up_to = two_pipelines.pending_inbox_summary()[0].max_id
    checkpoint = SyncState(source=SourceState.model_validate({"global": {"last_event": "evt_3"}}))

    with two_pipelines.transaction() as tx:
        claimed = tx.claim_inbox_events("alpha", up_to_id=up_to, limit=10)
        tx.save_checkpoint("alpha", checkpoint, lane=CheckpointLane.LIVE)
        assert tx.mark_inbox_processed([e.id for e in claimed]) == 3

    assert [e.event_id for e in claimed] == ["evt_1", "evt_2", "evt_3"]
    assert claimed[0].payload == event("evt_1")
    assert two_pipelines.count_pending_inbox("alpha") == 0
    assert two_pipelines.count_pending_inbox("bravo") == 1
    assert two_pipelines.get("alpha").live_state == checkpoint.model_dump(mode="json", by_alias=True)


def test_a_live_run_that_fails_midway_leaves_events_pending_and_the_checkpoint_unchanged(
    two_pipelines: PipelineStore,
) -> None:
    receive(two_pipelines, "alpha", "evt_1", "evt_2")

    def live_run_that_crashes_before_commit() -> None:
        with two_pipelines.transaction() as tx:
            claimed = tx.claim_inbox_events("alpha")
            tx.save_checkpoint("alpha", SyncState(), lane=CheckpointLane.LIVE)
            tx.mark_inbox_processed([e.id for e in claimed])
            raise RuntimeError("destination went away")

    with pytest.raises(RuntimeError, match="destination went away"):
        live_run_that_crashes_before_commit()

    assert two_pipelines.count_pending_inbox("alpha") == 2
    assert two_pipelines.get("alpha").live_state is None


def test_two_runs_claiming_at_once_never_get_the_same_event(two_pipelines: PipelineStore) -> None:
    receive(two_pipelines, "alpha", "evt_1", "evt_2", "evt_3")

    with two_pipelines.transaction() as first, two_pipelines.transaction() as second:
        mine = first.claim_inbox_events("alpha", limit=2)
        theirs = second.claim_inbox_events("alpha", limit=10)

    assert [e.event_id for e in mine] == ["evt_1", "evt_2"]
    assert [e.event_id for e in theirs] == ["evt_3"]


def test_a_claim_stops_at_the_sensors_max_id(two_pipelines: PipelineStore) -> None:
    receive(two_pipelines, "alpha", "evt_1", "evt_2")
    up_to = two_pipelines.pending_inbox()[0].id
    receive(two_pipelines, "alpha", "evt_3")

    with two_pipelines.transaction() as tx:
        assert [e.event_id for e in tx.claim_inbox_events("alpha", up_to_id=up_to)] == ["evt_1"]


def test_webhook_target_gives_intent_and_the_decrypted_secrets(two_pipelines: PipelineStore) -> None:
    target = two_pipelines.webhook_target("alpha")

    assert target is not None
    assert (target.pipeline_id, target.source_type, target.accepts_events) == ("alpha", "secretive", True)
    assert [s.get_secret_value() for s in target.secrets] == [WEBHOOK_SECRET]
    assert WEBHOOK_SECRET not in repr(target)
    assert two_pipelines.webhook_target("ghost") is None


def test_webhook_target_lists_every_secret_during_a_rotation(
    pipeline_store: PipelineStore, store_environ: dict[str, str]
) -> None:
    create(pipeline_store, "rotating", webhook_secret=["whsec_new", {"env": "OLD_WEBHOOK_SECRET"}])
    store_environ["OLD_WEBHOOK_SECRET"] = "whsec_old"  # the environment is read when a secret is used

    target = pipeline_store.webhook_target("rotating")

    assert target is not None
    assert [s.get_secret_value() for s in target.secrets] == ["whsec_new", "whsec_old"]


def test_webhook_intake_stays_on_while_paused_and_stops_once_deleted(two_pipelines: PipelineStore) -> None:
    two_pipelines.pause("alpha")
    two_pipelines.set_status("alpha", PipelineStatus.PAUSED)
    paused = two_pipelines.webhook_target("alpha")
    assert paused is not None
    assert paused.accepts_events
    assert not paused.lanes.webhook_apply  # kept, applied on resume

    two_pipelines.delete("alpha")
    deleted = two_pipelines.webhook_target("alpha")
    assert deleted is not None
    assert not deleted.accepts_events
    assert deleted.secrets == ()  # nothing is decrypted for a pipeline that takes no events


def test_a_source_without_a_webhook_secret_takes_no_events(pipeline_store: PipelineStore) -> None:
    create(pipeline_store, "polling", poll_events=True)

    target = pipeline_store.webhook_target("polling")

    assert target is not None
    assert not target.accepts_events
    assert target.lanes.events_poll is False  # still in setup: live lanes start once it is ready
