"""The lifecycle rules, as tables: every (state, change) pair has a written-down expected outcome.

The expected tables are spelled out here independently of ``lifecycle.py``, so a change to a rule
must change both: the module and this specification (and ``docs/pipelines.md``).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync_platform.errors import FailureKind
from sync_platform.pipelines import (
    DesiredStatus,
    DisplayStatus,
    Lanes,
    Lifecycle,
    LiveIntake,
    PipelineError,
    PipelineStatus,
    TransitionError,
    display_status,
    lanes_for,
    live_intake,
    platform_transition_allowed,
    target_status,
)
from sync_platform.pipelines.lifecycle import (
    change_config,
    change_desired_status,
    change_status,
    mark_torn_down,
)
from sync_platform.protocol import ConnectorConfig

D, S, F = DesiredStatus, PipelineStatus, FailureKind
WHEN = datetime(2025, 1, 1, tzinfo=UTC)


def err(kind: FailureKind = F.AUTH, *, attempts: int = 1) -> PipelineError:
    return PipelineError(kind=kind, message=f"{kind} failure", attempts=attempts, occurred_at=WHEN)


def parse_matrix(text: str) -> dict[tuple[PipelineStatus, PipelineStatus], bool]:
    """A from-status (rows) x to-status (columns) table of Y/. cells."""
    header, *rows = [line.split() for line in text.strip().splitlines()]
    return {
        (S(row[0]), S(column)): cell == "Y"
        for row in rows
        for column, cell in zip(header, row[1:], strict=True)
    }


# --- platform transitions (status), every pair, per desired_status ------------------------------

WHILE_ACTIVE_OR_PAUSED = parse_matrix(
    """
              setup backfill ready paused teardown error
    setup       Y     Y       .     Y      .        Y
    backfill    Y     Y       Y     Y      .        Y
    ready       Y     Y       Y     Y      .        Y
    paused      Y     Y       Y     Y      .        Y
    teardown    .     .       .     .      .        Y
    error       Y     Y       Y     Y      .        Y
    """
)
WHILE_DELETED = parse_matrix(
    """
              setup backfill ready paused teardown error
    setup       .     .       .     .      Y        Y
    backfill    .     .       .     .      Y        Y
    ready       .     .       .     .      Y        Y
    paused      .     .       .     .      Y        Y
    teardown    .     .       .     .      Y        Y
    error       .     .       .     .      Y        Y
    """
)


@pytest.mark.parametrize("desired", list(D))
@pytest.mark.parametrize("current", list(S))
@pytest.mark.parametrize("new", list(S))
def test_platform_transition_table(
    desired: DesiredStatus, current: PipelineStatus, new: PipelineStatus
) -> None:
    table = WHILE_DELETED if desired is D.DELETED else WHILE_ACTIVE_OR_PAUSED
    state = Lifecycle(desired_status=desired, status=current, error=err() if current is S.ERROR else None)
    error = err(F.TRANSIENT) if new is S.ERROR else None

    if table[(current, new)]:
        after = change_status("p1", state, new, error)
        assert (after.status, after.error, after.desired_status) == (new, error, desired)
    else:
        with pytest.raises(
            TransitionError, match=f"cannot move from status '{current}' to '{new}'"
        ) as raised:
            change_status("p1", state, new, error)
        assert raised.value.http_status == 409


@pytest.mark.parametrize("new", list(S))
def test_a_torn_down_pipeline_accepts_no_status_at_all(new: PipelineStatus) -> None:
    state = Lifecycle(desired_status=D.DELETED, status=S.TEARDOWN, torn_down=True)
    with pytest.raises(TransitionError, match="it has been torn down"):
        change_status("p1", state, new, err() if new is S.ERROR else None)


@pytest.mark.parametrize(
    ("path", "remembered"),
    [
        ([S.BACKFILL, S.PAUSED], S.BACKFILL),
        ([S.BACKFILL, S.PAUSED, S.ERROR], S.BACKFILL),  # a failed resume still returns to the backfill
        ([S.BACKFILL, S.READY, S.ERROR], S.READY),
        ([S.BACKFILL, S.READY, S.ERROR, S.PAUSED], S.READY),
        ([S.PAUSED], S.SETUP),
        ([S.BACKFILL, S.PAUSED, S.READY], None),
    ],
)
def test_paused_and_error_remember_the_working_status_to_resume(
    path: list[PipelineStatus], remembered: PipelineStatus | None
) -> None:
    state = Lifecycle(desired_status=D.ACTIVE, status=S.SETUP)
    for status in path:
        state = change_status("p1", state, status, err() if status is S.ERROR else None)
    assert state.resume_status is remembered


def test_error_info_goes_with_the_error_status_only() -> None:
    state = Lifecycle(desired_status=D.ACTIVE, status=S.READY)
    with pytest.raises(ValueError, match="pass `error` exactly when"):
        change_status("p1", state, S.ERROR)
    with pytest.raises(ValueError, match="pass `error` exactly when"):
        change_status("p1", state, S.BACKFILL, err())
    failed = change_status("p1", state, S.ERROR, err())
    assert change_status("p1", failed, S.READY).error is None


def test_only_a_deleted_pipeline_in_teardown_can_be_marked_torn_down() -> None:
    for desired in D:
        for status in S:
            state = Lifecycle(desired_status=desired, status=status)
            if (desired, status) == (D.DELETED, S.TEARDOWN):
                assert mark_torn_down("p1", state).torn_down
            else:
                with pytest.raises(TransitionError, match="only a deleted pipeline in teardown"):
                    mark_torn_down("p1", state)


# --- user changes (desired_status), every pair, in every status ---------------------------------

USER_ALLOWED = {
    (D.ACTIVE, D.ACTIVE): True,
    (D.ACTIVE, D.PAUSED): True,
    (D.ACTIVE, D.DELETED): True,
    (D.PAUSED, D.ACTIVE): True,
    (D.PAUSED, D.PAUSED): True,
    (D.PAUSED, D.DELETED): True,
    (D.DELETED, D.ACTIVE): False,
    (D.DELETED, D.PAUSED): False,
    (D.DELETED, D.DELETED): True,
}


@pytest.mark.parametrize("status", list(S))
@pytest.mark.parametrize(("current", "requested"), list(USER_ALLOWED))
def test_user_desired_status_table(
    status: PipelineStatus, current: DesiredStatus, requested: DesiredStatus
) -> None:
    state = Lifecycle(desired_status=current, status=status, error=err() if status is S.ERROR else None)

    if USER_ALLOWED[(current, requested)]:
        after = change_desired_status("p1", state, requested)
        assert after.desired_status is requested
        assert after.status is status  # the user never writes status
        # resuming (active) and deleting (to tear down, or retry a failed teardown) clear an error
        resumes_a_failure = status is S.ERROR and requested in (D.ACTIVE, D.DELETED)
        assert after.error == (None if resumes_a_failure else state.error)
    else:
        with pytest.raises(TransitionError, match="is deleted, and deleted is terminal") as raised:
            change_desired_status("p1", state, requested)
        assert raised.value.http_status == 409


@pytest.mark.parametrize("desired", list(D))
@pytest.mark.parametrize("status", list(S))
def test_config_edits_are_refused_once_deleted_and_clear_errors_otherwise(
    desired: DesiredStatus, status: PipelineStatus
) -> None:
    state = Lifecycle(desired_status=desired, status=status, error=err() if status is S.ERROR else None)
    if desired is D.DELETED:
        with pytest.raises(TransitionError, match="cannot be updated"):
            change_config("p1", state)
    else:
        after = change_config("p1", state)
        assert after.error is None
        assert (after.desired_status, after.status) == (desired, status)


# --- display status, lanes and the status to converge to, for every row -------------------------

# error column: "-" no error, "cleared" status error with the error cleared by the user, otherwise
# the failure kind recorded with status error ("transient*5": the fifth transient failure in a row).
ROWS: list[tuple[DesiredStatus, PipelineStatus, str, DisplayStatus, str, PipelineStatus | None]] = [
    # desired   status      error        display                     lanes       converge to
    (D.ACTIVE, S.SETUP, "-", DisplayStatus.SETTING_UP, "setup intake", None),
    (D.ACTIVE, S.BACKFILL, "-", DisplayStatus.BACKFILLING, "backfill intake", None),
    (D.ACTIVE, S.READY, "-", DisplayStatus.READY, "intake apply poll reconcile", None),
    (D.ACTIVE, S.PAUSED, "-", DisplayStatus.RESUMING, "backfill intake", S.BACKFILL),
    (D.ACTIVE, S.TEARDOWN, "-", DisplayStatus.TEARING_DOWN, "intake", None),  # cannot happen
    (D.ACTIVE, S.ERROR, "cleared", DisplayStatus.RESUMING, "backfill intake", S.BACKFILL),
    (D.ACTIVE, S.ERROR, "transient", DisplayStatus.ERROR, "backfill intake", None),
    (D.ACTIVE, S.ERROR, "rate_limited", DisplayStatus.ERROR, "backfill intake", None),
    (D.ACTIVE, S.ERROR, "internal", DisplayStatus.ERROR, "backfill intake", None),
    (D.ACTIVE, S.ERROR, "transient*5", DisplayStatus.ERROR, "intake", None),
    (D.ACTIVE, S.ERROR, "auth", DisplayStatus.ERROR, "intake", None),
    (D.ACTIVE, S.ERROR, "permission", DisplayStatus.ERROR, "intake", None),
    (D.ACTIVE, S.ERROR, "config", DisplayStatus.ERROR, "intake", None),
    (D.ACTIVE, S.ERROR, "invalid_request", DisplayStatus.ERROR, "intake", None),
    (D.ACTIVE, S.ERROR, "not_found", DisplayStatus.ERROR, "intake", None),
    (D.PAUSED, S.SETUP, "-", DisplayStatus.PAUSING, "intake", S.PAUSED),
    (D.PAUSED, S.BACKFILL, "-", DisplayStatus.PAUSING, "intake", S.PAUSED),
    (D.PAUSED, S.READY, "-", DisplayStatus.PAUSING, "intake", S.PAUSED),
    (D.PAUSED, S.PAUSED, "-", DisplayStatus.PAUSED, "intake", None),
    (D.PAUSED, S.TEARDOWN, "-", DisplayStatus.TEARING_DOWN, "intake", None),  # cannot happen
    (D.PAUSED, S.ERROR, "cleared", DisplayStatus.PAUSED, "intake", None),
    (D.PAUSED, S.ERROR, "transient", DisplayStatus.ERROR, "intake", None),
    (D.PAUSED, S.ERROR, "auth", DisplayStatus.ERROR, "intake", None),
    (D.PAUSED, S.ERROR, "config", DisplayStatus.ERROR, "intake", None),
    (D.PAUSED, S.ERROR, "internal", DisplayStatus.ERROR, "intake", None),
    (D.DELETED, S.SETUP, "-", DisplayStatus.TEARING_DOWN, "teardown", S.TEARDOWN),
    (D.DELETED, S.BACKFILL, "-", DisplayStatus.TEARING_DOWN, "teardown", S.TEARDOWN),
    (D.DELETED, S.READY, "-", DisplayStatus.TEARING_DOWN, "teardown", S.TEARDOWN),
    (D.DELETED, S.PAUSED, "-", DisplayStatus.TEARING_DOWN, "teardown", S.TEARDOWN),
    (D.DELETED, S.TEARDOWN, "-", DisplayStatus.TEARING_DOWN, "teardown", None),
    (D.DELETED, S.ERROR, "cleared", DisplayStatus.TEARING_DOWN, "teardown", None),
    (D.DELETED, S.ERROR, "transient", DisplayStatus.TEARING_DOWN, "teardown", None),  # retried
    (D.DELETED, S.ERROR, "internal", DisplayStatus.TEARING_DOWN, "teardown", None),
    (D.DELETED, S.ERROR, "transient*5", DisplayStatus.TEARDOWN_FAILED, "", None),
    (D.DELETED, S.ERROR, "auth", DisplayStatus.TEARDOWN_FAILED, "", None),
    (D.DELETED, S.ERROR, "config", DisplayStatus.TEARDOWN_FAILED, "", None),
]
LANE_LETTERS = {
    "setup": "setup",
    "backfill": "backfill",
    "intake": "webhook_intake",
    "apply": "webhook_apply",
    "poll": "events_poll",
    "reconcile": "reconcile",
    "teardown": "teardown",
}


def row_state(desired: DesiredStatus, status: PipelineStatus, error: str) -> Lifecycle:
    """The row's lifecycle; paused and failed rows left a backfill, to show resume goes back to it."""
    kind, _, attempts = error.partition("*")
    recorded = None if error in ("-", "cleared") else err(F(kind), attempts=int(attempts or 1))
    resume = S.BACKFILL if status in (S.PAUSED, S.ERROR) else None
    return Lifecycle(desired_status=desired, status=status, error=recorded, resume_status=resume)


def test_the_rows_cover_every_desired_status_and_status_pair_and_every_failure_kind() -> None:
    assert {(d, s) for d, s, *_ in ROWS} == {(d, s) for d in D for s in S}
    assert {error.partition("*")[0] for _, _, error, *_ in ROWS} == {*F, "-", "cleared"}


@pytest.mark.parametrize(("desired", "status", "error", "display", "on", "converge"), ROWS)
def test_display_status_table(
    desired: DesiredStatus,
    status: PipelineStatus,
    error: str,
    display: DisplayStatus,
    on: str,
    converge: PipelineStatus | None,
) -> None:
    assert display_status(row_state(desired, status, error)) is display


@pytest.mark.parametrize(("desired", "status", "error", "display", "on", "converge"), ROWS)
def test_lanes_table(
    desired: DesiredStatus,
    status: PipelineStatus,
    error: str,
    display: DisplayStatus,
    on: str,
    converge: PipelineStatus | None,
) -> None:
    both = LiveIntake(webhooks=True, events_poll=True)
    expected = Lanes(**{LANE_LETTERS[name]: True for name in on.split()})
    assert lanes_for(row_state(desired, status, error), both) == expected


@pytest.mark.parametrize(("desired", "status", "error", "display", "on", "converge"), ROWS)
def test_target_status_table(
    desired: DesiredStatus,
    status: PipelineStatus,
    error: str,
    display: DisplayStatus,
    on: str,
    converge: PipelineStatus | None,
) -> None:
    state = row_state(desired, status, error)
    assert target_status(state) is converge
    if converge is not None:
        assert platform_transition_allowed(state, converge)


def test_a_torn_down_pipeline_shows_deleted_runs_no_lane_and_converges_nowhere() -> None:
    state = Lifecycle(desired_status=D.DELETED, status=S.TEARDOWN, torn_down=True)
    assert display_status(state) is DisplayStatus.DELETED
    assert lanes_for(state, LiveIntake(webhooks=True, events_poll=True)) == Lanes()
    assert target_status(state) is None


@pytest.mark.parametrize(
    ("intake", "ready_lanes"),
    [
        (LiveIntake(), Lanes(reconcile=True)),
        (LiveIntake(webhooks=True), Lanes(webhook_intake=True, webhook_apply=True, reconcile=True)),
        (LiveIntake(events_poll=True), Lanes(events_poll=True, reconcile=True)),
    ],
)
def test_live_lanes_follow_the_sources_intake(intake: LiveIntake, ready_lanes: Lanes) -> None:
    ready = Lifecycle(desired_status=D.ACTIVE, status=S.READY)
    paused = Lifecycle(desired_status=D.PAUSED, status=S.PAUSED)
    assert lanes_for(ready, intake) == ready_lanes
    assert lanes_for(paused, intake) == Lanes(webhook_intake=intake.webhooks)


def test_a_paused_or_failed_pipeline_without_a_remembered_status_resumes_with_setup() -> None:
    state = Lifecycle(desired_status=D.ACTIVE, status=S.PAUSED)
    assert target_status(state) is S.SETUP
    assert lanes_for(state, LiveIntake()) == Lanes(setup=True)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({}, LiveIntake()),
        ({"webhook_secret": {"encrypted": "token"}}, LiveIntake(webhooks=True)),
        ({"webhook_secret": [{"env": "A"}, {"env": "B"}]}, LiveIntake(webhooks=True)),
        ({"webhook_secret": None, "webhook_url": "https://x"}, LiveIntake()),  # no secret yet: cannot verify
        ({"poll_events": True}, LiveIntake(events_poll=True)),
        ({"poll_events": "yes"}, LiveIntake()),
    ],
)
def test_live_intake_is_read_from_the_source_config(config: dict[str, object], expected: LiveIntake) -> None:
    assert live_intake(ConnectorConfig(type="stripe", config=config)) == expected


def test_lanes_name_what_is_on() -> None:
    assert Lanes(backfill=True, webhook_intake=True).on() == ("backfill", "webhook_intake")
    assert Lanes().on() == ()


# --- any sequence of changes keeps the lifecycle consistent --------------------------------------

operations = st.one_of(
    st.tuples(st.just("user"), st.sampled_from(list(D))),
    st.tuples(st.just("config"), st.none()),
    st.tuples(st.just("platform"), st.sampled_from(list(S)), st.sampled_from(list(F))),
    st.tuples(st.just("torn_down"), st.none()),
)


@given(st.lists(operations, max_size=40))
def test_any_sequence_of_allowed_changes_keeps_the_invariants(steps: list[tuple[object, ...]]) -> None:
    state = Lifecycle(desired_status=D.ACTIVE, status=S.SETUP)
    was_deleted = False
    for step in steps:
        try:
            match step:
                case ("user", DesiredStatus() as desired):
                    state = change_desired_status("p1", state, desired)
                case ("config", None):
                    state = change_config("p1", state)
                case ("platform", PipelineStatus() as status, FailureKind() as kind):
                    state = change_status("p1", state, status, err(kind) if status is S.ERROR else None)
                case ("torn_down", None):
                    state = mark_torn_down("p1", state)
        except TransitionError:
            pass
        was_deleted = was_deleted or state.desired_status is D.DELETED
        assert state.error is None or state.status is S.ERROR
        assert state.resume_status in (None, S.SETUP, S.BACKFILL, S.READY)
        assert not state.torn_down or state.desired_status is D.DELETED
        assert state.status is not S.TEARDOWN or state.desired_status is D.DELETED
        assert not was_deleted or state.desired_status is D.DELETED  # deleted is terminal
