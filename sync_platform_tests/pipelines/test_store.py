"""The store keeps pipelines as users and the platform left them: round trips, rules, control messages."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from sync_platform.errors import ConfigError, FailureKind
from sync_platform.pipelines import (
    DesiredStatus,
    DisplayStatus,
    PipelineCreate,
    PipelineError,
    PipelineExistsError,
    PipelineNotFoundError,
    PipelineStatus,
    PipelineStore,
    PipelineUpdate,
    StreamSelection,
    TransitionError,
)
from sync_platform.protocol import destination_config_control, source_config_control
from sync_platform_tests.plugins.pipelines import STRIPE_KEY

S = PipelineStatus


def fixture_request(**overrides: object) -> PipelineCreate:
    body: dict[str, object] = {
        "source": {"type": "fixture", "fixture": {"streams": {"customer": 3}}},
        "destination": {"type": "null", "null": {}},
    }
    body.update(overrides)
    return PipelineCreate.model_validate(body)


def failure(kind: FailureKind = FailureKind.AUTH) -> PipelineError:
    when = datetime(2025, 1, 1, tzinfo=UTC)
    return PipelineError(kind=kind, message="Stripe said: invalid API key", occurred_at=when)


def test_create_then_get_round_trips_with_connector_defaults_applied(pipeline_store: PipelineStore) -> None:
    created = pipeline_store.create(fixture_request(id="billing-sync", streams=["customer"]))
    loaded = pipeline_store.get("billing-sync")

    assert loaded == created
    assert loaded.source.type == "fixture"
    assert loaded.source.config["streams"] == {"customer": 3}
    assert loaded.source.config["state_every"] == 100  # the fixture spec's default, filled in
    assert loaded.streams == [StreamSelection(name="customer")]
    assert (loaded.desired_status, loaded.status) == (DesiredStatus.ACTIVE, S.SETUP)
    assert loaded.display_status is DisplayStatus.SETTING_UP
    assert loaded.version == 1
    assert loaded.sync_state is None
    assert loaded.live_state is None
    assert loaded.created_at == loaded.updated_at


def test_create_without_id_generates_a_pipe_id(pipeline_store: PipelineStore) -> None:
    first = pipeline_store.create(fixture_request())
    second = pipeline_store.create(fixture_request())

    assert re.fullmatch(r"pipe_[0-9a-f]{16}", first.id)
    assert first.id != second.id


def test_create_with_a_taken_id_is_a_conflict(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))

    with pytest.raises(PipelineExistsError, match="'billing-sync' already exists"):
        pipeline_store.create(fixture_request(id="billing-sync"))


def test_create_rejects_a_config_the_connector_spec_refuses(pipeline_store: PipelineStore) -> None:
    refused = r"Invalid source config for 'fixture' at 'state_every': must be >= 1"
    with pytest.raises(ConfigError, match=refused):
        pipeline_store.create(
            fixture_request(source={"type": "fixture", "fixture": {"state_every": 0}}, id="bad-config")
        )
    assert pipeline_store.find("bad-config") is None


def test_create_names_an_unknown_connector(pipeline_store: PipelineStore) -> None:
    with pytest.raises(LookupError, match=r"Unknown destination connector 'nul'\. Did you mean 'null'\?"):
        pipeline_store.create(fixture_request(destination={"type": "nul", "nul": {}}))


def test_list_hides_deleted_pipelines_unless_asked(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="kept"))
    pipeline_store.create(fixture_request(id="gone"))
    pipeline_store.delete("gone")

    assert [p.id for p in pipeline_store.list_pipelines()] == ["kept"]
    assert [p.id for p in pipeline_store.list_pipelines(include_deleted=True)] == ["kept", "gone"]


def test_get_of_an_unknown_pipeline_names_it(pipeline_store: PipelineStore) -> None:
    with pytest.raises(PipelineNotFoundError, match="Pipeline 'nope' not found"):
        pipeline_store.get("nope")
    assert pipeline_store.find("nope") is None


def test_update_replaces_configs_and_streams_and_bumps_the_version(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync", streams=["customer"]))

    updated = pipeline_store.update(
        "billing-sync",
        PipelineUpdate.model_validate(
            {"source": {"type": "fixture", "fixture": {"streams": {"invoice": 7}}}, "streams": None}
        ),
    )

    assert updated.source.config["streams"] == {"invoice": 7}
    assert updated.streams is None  # explicit null: back to every stream
    assert updated.version == 2
    assert updated.updated_at > updated.created_at
    assert pipeline_store.get("billing-sync") == updated


def test_an_update_that_changes_nothing_writes_nothing(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))

    assert pipeline_store.pause("billing-sync").version == 2
    assert pipeline_store.pause("billing-sync").version == 2


def test_pause_and_resume_change_intent_and_display_status(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))
    pipeline_store.set_status("billing-sync", S.BACKFILL)

    pausing = pipeline_store.pause("billing-sync")
    assert (pausing.desired_status, pausing.status, pausing.display_status) == (
        DesiredStatus.PAUSED,
        S.BACKFILL,
        DisplayStatus.PAUSING,
    )
    paused = pipeline_store.set_status("billing-sync", S.PAUSED)
    assert paused.display_status is DisplayStatus.PAUSED
    assert paused.resume_status is S.BACKFILL

    resuming = pipeline_store.resume("billing-sync")
    assert resuming.display_status is DisplayStatus.RESUMING
    assert pipeline_store.set_status("billing-sync", S.BACKFILL).display_status is DisplayStatus.BACKFILLING


def test_deleted_is_terminal_for_every_user_change(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))
    deleted = pipeline_store.delete("billing-sync")
    assert deleted.display_status is DisplayStatus.TEARING_DOWN

    with pytest.raises(TransitionError, match="'billing-sync' is deleted, and deleted is terminal") as raised:
        pipeline_store.resume("billing-sync")
    assert raised.value.http_status == 409
    with pytest.raises(TransitionError, match="cannot be paused"):
        pipeline_store.pause("billing-sync")
    with pytest.raises(TransitionError, match="cannot be updated"):
        pipeline_store.update("billing-sync", PipelineUpdate(streams=[StreamSelection(name="customer")]))
    with pytest.raises(TransitionError):
        pipeline_store.reset_checkpoints("billing-sync")
    assert pipeline_store.delete("billing-sync") == deleted  # deleting again is a no-op
    assert pipeline_store.get("billing-sync") == deleted


def test_a_racing_job_cannot_report_progress_on_a_deleted_pipeline(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))
    pipeline_store.set_status("billing-sync", S.BACKFILL)
    pipeline_store.delete("billing-sync")

    with pytest.raises(TransitionError, match="from status 'backfill' to 'ready': the user deleted it"):
        pipeline_store.set_status("billing-sync", S.READY)
    assert pipeline_store.set_status("billing-sync", S.TEARDOWN).status is S.TEARDOWN


def test_teardown_then_purge_removes_the_pipeline(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))
    pipeline_store.delete("billing-sync")

    with pytest.raises(TransitionError, match="has not been torn down yet"):
        pipeline_store.purge("billing-sync")
    with pytest.raises(TransitionError, match="cannot be marked torn down"):
        pipeline_store.mark_torn_down("billing-sync")

    pipeline_store.set_status("billing-sync", S.TEARDOWN)
    torn_down = pipeline_store.mark_torn_down("billing-sync")
    assert torn_down.display_status is DisplayStatus.DELETED
    assert torn_down.torn_down_at is not None
    with pytest.raises(PipelineExistsError, match="it is deleted but not purged yet"):
        pipeline_store.create(fixture_request(id="billing-sync"))

    assert pipeline_store.purge("billing-sync") is True
    assert pipeline_store.find("billing-sync") is None
    assert pipeline_store.purge("billing-sync") is False
    assert pipeline_store.create(fixture_request(id="billing-sync")).version == 1


def test_set_status_refuses_a_transition_outside_the_table(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))

    with pytest.raises(TransitionError, match="teardown requires desired_status 'deleted'"):
        pipeline_store.set_status("billing-sync", S.TEARDOWN)
    with pytest.raises(ValueError, match="pass `error` exactly when the new status is 'error'"):
        pipeline_store.set_status("billing-sync", S.ERROR)


def test_error_is_recorded_and_resume_clears_it(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))
    pipeline_store.set_status("billing-sync", S.BACKFILL)

    failed = pipeline_store.set_status("billing-sync", S.ERROR, failure())
    assert failed.display_status is DisplayStatus.ERROR
    assert failed.error == failure()
    assert failed.resume_status is S.BACKFILL

    resumed = pipeline_store.resume("billing-sync")
    assert resumed.error is None
    assert (resumed.status, resumed.display_status) == (S.ERROR, DisplayStatus.RESUMING)
    recovered = pipeline_store.set_status("billing-sync", S.BACKFILL)
    assert (recovered.status, recovered.resume_status, recovered.error) == (S.BACKFILL, None, None)


def test_a_config_edit_clears_an_auth_error(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))
    pipeline_store.set_status("billing-sync", S.ERROR, failure())

    edited = pipeline_store.update(
        "billing-sync", PipelineUpdate.model_validate({"source": {"type": "fixture", "fixture": {}}})
    )

    assert edited.error is None


def test_apply_control_replaces_the_destination_config_wholesale(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(
        fixture_request(id="billing-sync", source={"type": "fixture", "fixture": {"streams": {"a": 1}}})
    )

    updated = pipeline_store.apply_control(
        "billing-sync", source_config_control({"streams": {"b": 2}, "state_every": 5})
    )

    assert updated.source.config["streams"] == {"b": 2}
    assert updated.source.config["state_every"] == 5
    assert updated.version == 2


def test_apply_control_validates_the_connector_config(pipeline_store: PipelineStore) -> None:
    pipeline_store.create(fixture_request(id="billing-sync"))

    with pytest.raises(ConfigError, match="Invalid destination config for 'null'"):
        pipeline_store.apply_control("billing-sync", destination_config_control({"spreadsheet_id": "x"}))
    assert pipeline_store.get("billing-sync").version == 1


def test_env_reference_survives_a_control_message_with_the_same_value(pipeline_store: PipelineStore) -> None:
    """Setup echoes the full config back with the key in plaintext; the env reference must stay."""
    pipeline_store.create(
        fixture_request(
            id="stripe-sync",
            source={"type": "secretive", "secretive": {"api_key": {"env": "STRIPE_API_KEY"}}},
        )
    )

    updated = pipeline_store.apply_control(
        "stripe-sync",
        source_config_control({"api_key": STRIPE_KEY, "webhook_secret": "whsec_fresh", "poll_events": False}),
    )

    assert updated.source.config["api_key"] == {"env": "STRIPE_API_KEY"}
    assert set(updated.source.config["webhook_secret"]) == {"encrypted"}
    target = pipeline_store.webhook_target("stripe-sync")
    assert target is not None
    assert [secret.get_secret_value() for secret in target.secrets] == ["whsec_fresh"]
