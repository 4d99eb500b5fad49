"""The lifecycle rules, as pure functions over tables: who may change what, and which lanes run.

Nothing here touches a database or a clock. The store calls these functions inside its
read-modify-write, so the rules hold whichever process writes; Dagster sensors call ``lanes`` on
every tick to decide what to launch for each pipeline. ``docs/pipelines.md`` draws the same tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Protocol

from sync_platform.pipelines.errors import TransitionError
from sync_platform.pipelines.states import (
    WORKING_STATUSES,
    DesiredStatus,
    DisplayStatus,
    PipelineError,
    PipelineStatus,
)
from sync_platform.protocol import ConnectorConfig

D, S = DesiredStatus, PipelineStatus


@dataclass(frozen=True)
class Lifecycle:
    """The part of a pipeline the rules look at."""

    desired_status: DesiredStatus
    status: PipelineStatus
    error: PipelineError | None = None
    resume_status: PipelineStatus | None = None
    torn_down: bool = False


# --- user changes (desired_status) --------------------------------------------------------------

USER_CHANGES: Mapping[tuple[DesiredStatus, DesiredStatus], bool] = {
    (D.ACTIVE, D.ACTIVE): True,
    (D.ACTIVE, D.PAUSED): True,
    (D.ACTIVE, D.DELETED): True,
    (D.PAUSED, D.ACTIVE): True,
    (D.PAUSED, D.PAUSED): True,
    (D.PAUSED, D.DELETED): True,
    (D.DELETED, D.ACTIVE): False,
    (D.DELETED, D.PAUSED): False,
    (D.DELETED, D.DELETED): True,  # deleting twice is a no-op, as HTTP DELETE is idempotent
}
"""(current desired_status, requested) -> allowed. Deleted is terminal; the status plays no part."""


def _deleted_conflict(pipeline_id: str, requested: str) -> TransitionError:
    return TransitionError(
        f"Pipeline {pipeline_id!r} is deleted, and deleted is terminal: it cannot be {requested}. "
        "Create a new pipeline instead.",
        pipeline_id=pipeline_id,
        current=D.DELETED,
        requested=requested,
    )


def change_desired_status(pipeline_id: str, current: Lifecycle, requested: DesiredStatus) -> Lifecycle:
    """The lifecycle after the user asks for ``requested``; raises ``TransitionError`` (a 409).

    Asking for ``active`` on a failed pipeline is the user's "resume": it clears the error, which
    is the platform's signal to retry (a parked failure is never retried without it). Deleting
    clears it the same way: a pipeline parked by a failed sync is torn down, and deleting again a
    pipeline whose teardown failed tries the teardown again.
    """
    if not USER_CHANGES[(current.desired_status, requested)]:
        raise _deleted_conflict(
            pipeline_id, {D.ACTIVE: "resumed", D.PAUSED: "paused"}.get(requested, "changed")
        )
    cleared = current.status is S.ERROR and requested in (D.ACTIVE, D.DELETED)
    return replace(current, desired_status=requested, error=None if cleared else current.error)


def change_config(pipeline_id: str, current: Lifecycle) -> Lifecycle:
    """The lifecycle after the user edits source, destination or streams.

    A deleted pipeline is frozen (the reference let a PATCH through on a soft-deleted pipeline,
    bug #8). An edit clears a recorded error: new credentials are the usual fix for an auth error.
    """
    if current.desired_status is D.DELETED:
        raise _deleted_conflict(pipeline_id, "updated")
    return replace(current, error=None) if current.status is S.ERROR else current


# --- platform changes (status) ------------------------------------------------------------------

PLATFORM_TRANSITIONS: Mapping[PipelineStatus, frozenset[PipelineStatus]] = {
    S.SETUP: frozenset({S.SETUP, S.BACKFILL, S.PAUSED, S.ERROR, S.TEARDOWN}),
    S.BACKFILL: frozenset({S.BACKFILL, S.READY, S.SETUP, S.PAUSED, S.ERROR, S.TEARDOWN}),
    S.READY: frozenset({S.READY, S.BACKFILL, S.SETUP, S.PAUSED, S.ERROR, S.TEARDOWN}),
    S.PAUSED: frozenset({S.PAUSED, S.SETUP, S.BACKFILL, S.READY, S.ERROR, S.TEARDOWN}),
    S.ERROR: frozenset({S.ERROR, S.SETUP, S.BACKFILL, S.READY, S.PAUSED, S.TEARDOWN}),
    S.TEARDOWN: frozenset({S.TEARDOWN, S.ERROR}),
}
"""current status -> statuses the platform may write next (before the desired_status guards).

``ready -> setup`` and ``ready -> backfill`` exist because a config edit needs a fresh setup and a
changed stream list (or the 30-day events horizon) needs a new backfill. Teardown only ends in
error, or in ``torn_down`` (then the record may be purged).
"""

STATUSES_WHEN_DELETED: frozenset[PipelineStatus] = frozenset({S.TEARDOWN, S.ERROR})
"""Once the user deleted the pipeline, a racing job may no longer report setup/backfill/ready."""


def platform_transition_allowed(current: Lifecycle, new_status: PipelineStatus) -> bool:
    """Whether the platform may write ``new_status`` now (the table plus the desired_status guards)."""
    if current.torn_down or new_status not in PLATFORM_TRANSITIONS[current.status]:
        return False
    if current.desired_status is D.DELETED:
        return new_status in STATUSES_WHEN_DELETED
    return new_status is not S.TEARDOWN


def change_status(
    pipeline_id: str, current: Lifecycle, new_status: PipelineStatus, error: PipelineError | None = None
) -> Lifecycle:
    """The lifecycle after the platform reports ``new_status``; raises ``TransitionError``.

    ``error`` is required with ``error`` and refused otherwise. Entering ``paused`` or ``error``
    from a working status remembers that status in ``resume_status``; any other write clears it.
    """
    if (new_status is S.ERROR) != (error is not None):
        raise ValueError("set_status: pass `error` exactly when the new status is 'error'")
    if not platform_transition_allowed(current, new_status):
        reason = (
            "it has been torn down"
            if current.torn_down
            else f"the user deleted it (only {', '.join(sorted(STATUSES_WHEN_DELETED))} are allowed)"
            if current.desired_status is D.DELETED and new_status in PLATFORM_TRANSITIONS[current.status]
            else "teardown requires desired_status 'deleted'"
            if new_status is S.TEARDOWN and current.status is not S.TEARDOWN
            else f"allowed next statuses are {', '.join(sorted(PLATFORM_TRANSITIONS[current.status]))}"
        )
        raise TransitionError(
            f"Pipeline {pipeline_id!r} cannot move from status {current.status.value!r} to "
            f"{new_status.value!r}: {reason}.",
            pipeline_id=pipeline_id,
            current=current.status,
            requested=new_status,
        )
    if new_status in (S.PAUSED, S.ERROR):
        remembered = current.status if current.status in WORKING_STATUSES else current.resume_status
    else:
        remembered = None
    return replace(current, status=new_status, error=error, resume_status=remembered)


def mark_torn_down(pipeline_id: str, current: Lifecycle) -> Lifecycle:
    """The lifecycle once teardown succeeded: only a deleted pipeline in ``teardown`` gets here."""
    if current.desired_status is not D.DELETED or current.status is not S.TEARDOWN:
        raise TransitionError(
            f"Pipeline {pipeline_id!r} cannot be marked torn down: it is {current.desired_status.value!r} "
            f"with status {current.status.value!r}; only a deleted pipeline in teardown can be.",
            pipeline_id=pipeline_id,
            current=current.status,
            requested="torn_down",
        )
    return replace(current, torn_down=True)


def resume_target(current: Lifecycle) -> PipelineStatus:
    """Where a paused or failed pipeline goes back to: the working status it left (setup if none)."""
    if current.status in WORKING_STATUSES:
        return current.status
    return current.resume_status or S.SETUP


def target_status(current: Lifecycle) -> PipelineStatus | None:
    """The status the platform should write next when no run is busy with the pipeline, or None.

    The lifecycle sensor converges ``status`` to ``desired_status`` with it: a pause is reported
    once runs stopped, a resume (or a cleared error) returns to ``resume_target``, a delete starts
    teardown. A parked error (auth/config/system, not cleared) waits for the user.
    """
    if current.torn_down:
        return None
    if current.desired_status is D.DELETED:
        return None if current.status in (S.TEARDOWN, S.ERROR) else S.TEARDOWN
    if current.status is S.TEARDOWN or (current.status is S.ERROR and current.error is not None):
        return None  # teardown without a delete cannot happen; a parked error waits for the user
    if current.desired_status is D.PAUSED:
        return None if current.status in (S.PAUSED, S.ERROR) else S.PAUSED
    return None if current.status in WORKING_STATUSES else resume_target(current)


# --- display status -----------------------------------------------------------------------------


def display_status(current: Lifecycle) -> DisplayStatus:
    """The one word users see; the first matching row of the table in ``docs/pipelines.md`` wins."""
    if current.torn_down:
        return DisplayStatus.DELETED
    if current.desired_status is D.DELETED:
        failed = current.status is S.ERROR and current.error is not None and current.error.parked
        return DisplayStatus.TEARDOWN_FAILED if failed else DisplayStatus.TEARING_DOWN
    if current.status is S.ERROR and current.error is not None:
        return DisplayStatus.ERROR
    if current.status is S.TEARDOWN:
        return DisplayStatus.TEARING_DOWN
    if current.desired_status is D.PAUSED:
        return DisplayStatus.PAUSED if current.status in (S.PAUSED, S.ERROR) else DisplayStatus.PAUSING
    match current.status:
        case S.SETUP:
            return DisplayStatus.SETTING_UP
        case S.BACKFILL:
            return DisplayStatus.BACKFILLING
        case S.READY:
            return DisplayStatus.READY
        case _:  # paused, or an error the user just cleared: the platform is about to resume
            return DisplayStatus.RESUMING


# --- lanes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LiveIntake:
    """How a source receives changes after its backfill: pushed webhooks, polled events, or both."""

    webhooks: bool = False
    events_poll: bool = False


def live_intake(source: ConnectorConfig) -> LiveIntake:
    """Read the live-intake switches from a (stored) source config.

    A source takes webhooks once it has a ``webhook_secret`` (without one no request can be
    verified; Stripe's setup returns it in a ``control`` message) and polls events when
    ``poll_events`` is true. Any connector can opt in with these two fields.
    """
    return LiveIntake(
        webhooks=bool(source.config.get("webhook_secret")),
        events_poll=source.config.get("poll_events") is True,
    )


@dataclass(frozen=True)
class Lanes:
    """Which lanes are on for one pipeline right now. A lane that is off launches nothing new.

    ``webhook_intake`` is the receiver storing events in the inbox; ``webhook_apply`` is the
    inbox sensor turning them into runs. They differ while paused: events are kept, not applied.
    """

    setup: bool = False
    backfill: bool = False
    webhook_intake: bool = False
    webhook_apply: bool = False
    events_poll: bool = False
    reconcile: bool = False
    teardown: bool = False

    def on(self) -> tuple[str, ...]:
        """The names of the lanes that are on, for logs and run tags."""
        return tuple(field.name for field in fields(self) if getattr(self, field.name))


def lanes_for(current: Lifecycle, intake: LiveIntake) -> Lanes:
    """The lanes table (see ``docs/pipelines.md``) for a lifecycle and a source's live intake."""
    error = current.error if current.status is S.ERROR else None
    parked = error is not None and error.parked
    if current.desired_status is D.DELETED:
        return Lanes(teardown=not current.torn_down and not parked)  # parked: teardown_failed
    intake_only = Lanes(webhook_intake=intake.webhooks)
    if current.desired_status is D.PAUSED:
        return intake_only
    if parked:
        return intake_only  # until the user resumes or edits the config
    match S.TEARDOWN if current.status is S.TEARDOWN else resume_target(current):
        case S.SETUP:
            return Lanes(setup=True, webhook_intake=intake.webhooks)
        case S.BACKFILL:
            return Lanes(backfill=True, webhook_intake=intake.webhooks)
        case S.READY:
            return Lanes(
                webhook_intake=intake.webhooks,
                webhook_apply=intake.webhooks,
                events_poll=intake.events_poll,
                reconcile=True,
            )
        case _:
            return intake_only


class LifecycleHolder(Protocol):
    """What ``lanes`` reads of a pipeline. A protocol, not ``model.Pipeline``: the model is built on
    this module (``Pipeline.lifecycle``), so naming it here would make the two import each other."""

    @property
    def lifecycle(self) -> Lifecycle: ...

    @property
    def source(self) -> ConnectorConfig: ...


def lanes(pipeline: LifecycleHolder) -> Lanes:
    """Which lanes are on for ``pipeline``: its lifecycle plus its source's live intake."""
    return lanes_for(pipeline.lifecycle, live_intake(pipeline.source))
