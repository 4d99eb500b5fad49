"""The lanes a run can go through, and which ones a run with no lane given goes through.

A lane is one kind of work on a pipeline: ``backfill`` (setup if needed, then list every stream
from the committed checkpoint), ``live`` (apply the webhook inbox), ``poll`` (read changes from the
source's events since the live checkpoint), ``reconcile`` (replay recent changes to heal anything
missed, moving no cursor) and ``teardown`` (remove what setup created, for a deleted pipeline).
Dagster's sensors and schedules pick a lane per run; the CLI lets the pipeline decide.
"""

from __future__ import annotations

from enum import StrEnum

from sync_platform.pipelines.lifecycle import lanes, resume_target
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.states import PipelineStatus


class Lane(StrEnum):
    BACKFILL = "backfill"
    LIVE = "live"
    POLL = "poll"
    RECONCILE = "reconcile"
    TEARDOWN = "teardown"

    @property
    def keeps_current(self) -> bool:
        """A lane that applies changes after the backfill (it needs a finished backfill)."""
        return self in (Lane.LIVE, Lane.POLL, Lane.RECONCILE)


def backfill_done(pipeline: Pipeline) -> bool:
    """Whether the pipeline's backfill finished (it is, or will resume as, ``ready``)."""
    return resume_target(pipeline.lifecycle) is PipelineStatus.READY


def default_lanes(pipeline: Pipeline, *, source_keeps_current: bool = True) -> list[Lane]:
    """What "sync this pipeline" means now: the backfill until it is done, then catching up.

    Catching up applies pending webhooks (when the pipeline takes them) and polls the events
    (when it polls, or when it has no webhooks at all: then polling is the only way to see
    updates and deletes). Whether the pipeline may run at all (paused, deleted) is the runner's
    check, not a lane choice: a deleted pipeline is torn down only when asked for by name.

    A source that cannot read changes (``source_keeps_current`` false: it has no live lanes) is
    caught up by its backfill lane again, which resumes from its checkpoint.
    """
    if not backfill_done(pipeline) or not source_keeps_current:
        return [Lane.BACKFILL]
    current = lanes(pipeline)
    catch_up = [Lane.LIVE] if current.webhook_intake else []
    if current.events_poll or not current.webhook_intake:
        catch_up.append(Lane.POLL)
    return catch_up
