"""The pipeline runner: every lane of a stored pipeline, written once, for every entry point.

Dagster (``defs``), the CLI, the demo and the HTTP API all call ``PipelineRunner.run`` and only
present the events it yields. The runner owns everything a lane decides:

- **which lanes** run (``default_lanes``: the backfill until it is done, then catching up) and
  whether the pipeline may run at all (paused, deleted, parked: refused unless forced);
- **one run per pipeline**: the run lock is taken before any work (``PipelineBusyError``);
- **status moves**: setup on a new pipeline, ``setting_up -> backfilling -> ready``, back to work
  after a resume or a retried failure, ``teardown`` and ``torn down``; and at the end of a run,
  the status the pipeline's ``desired_status`` asks for (``paused`` after a pause);
- **checkpoints**: committed ones saved while a batch runs (``CheckpointWriter``) and at its end;
  the live lane saves its cursor and marks its events applied in one transaction;
- **failures**: judged by kind (``judge``), recorded on the pipeline with the root cause; kinds
  that retrying cannot fix park the pipeline, the others are retried with backoff and park after
  ``MAX_CONSECUTIVE_FAILURES`` in a row.

Between batches the runner re-reads the pipeline and stops when the user paused or deleted it (a
batch in flight finishes and commits; nothing is cut mid-write).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime

from sync_platform.engine import Engine, blocking, source_lanes
from sync_platform.native_memory import trimming_freed_memory
from sync_platform.pipelines.lifecycle import target_status
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.runner.events import RunEvent, StatusChanged
from sync_platform.pipelines.runner.lane_run import LaneRun
from sync_platform.pipelines.runner.lanes import Lane, backfill_done, default_lanes
from sync_platform.pipelines.runner.options import PipelineNotRunnableError, RunOptions, Side
from sync_platform.pipelines.states import DesiredStatus, PipelineStatus
from sync_platform.pipelines.store import PipelineStore
from sync_platform.protocol import ControlMessage, utc_now

logger = logging.getLogger(__name__)


def converge(store: PipelineStore, pipeline: Pipeline) -> Pipeline:
    """Write the status ``desired_status`` asks for; only call it when no run works on the pipeline
    (the lifecycle sensor checks the run queue; the runner holds the run lock)."""
    target = target_status(pipeline.lifecycle)
    if target is None or target is pipeline.status:
        return pipeline
    return store.set_status(pipeline.id, target)


class PipelineRunner:
    """Runs lanes of stored pipelines. ``holder`` names the runs in locks and recorded errors
    (``"Dagster run 1f2e…"``, ``"sync-platform sync-batch (pid 4242)"``)."""

    def __init__(
        self,
        store: PipelineStore,
        engine: Engine,
        *,
        holder: str,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.engine = engine
        self.holder = holder
        self.monotonic = monotonic
        self.now = now

    # --- the entry point ----------------------------------------------------------------------

    def run(
        self, pipeline_id: str, lanes_to_run: Sequence[Lane] | None = None, options: RunOptions | None = None
    ) -> Iterator[RunEvent]:
        """Run ``lanes_to_run`` (default: what the pipeline needs now) one after the other.

        Raises ``PipelineNotRunnableError`` or ``PipelineBusyError`` before any work; a lane that
        fails yields ``RunFailed`` (its error is recorded on the pipeline) and ends the run.
        """
        options = options or RunOptions()
        chosen = self._lanes_to_run(pipeline_id, lanes_to_run, options)
        if not chosen:
            return
        with (
            self.store.run_lock(pipeline_id, holder=self.holder, lane=chosen[0].value) as lock,
            trimming_freed_memory(),  # a long run's freed blocks go back to the system as it goes
        ):
            started = self.monotonic()
            for lane in chosen:
                lock.set_lane(lane.value)
                run = LaneRun(self, lane, pipeline_id, options, lock, started)
                ok = yield from run.execute()
                if not ok:
                    return
            yield from self._converge(pipeline_id)  # e.g. a forced run of a paused pipeline: paused again

    def provision(self, pipeline_id: str, *, only: Side | None = None) -> Pipeline:
        """Run connector setup again outside any lane (idempotent) and store what it reports back.

        For a pipeline whose provisioned resources vanished underneath it: the dev stack's fresh
        emulator keeps no webhook endpoints, so each pipeline's source is set up again. Holds the
        run lock while it does, so it never races a run of the pipeline.
        """
        with self.store.run_lock(pipeline_id, holder=self.holder, lane="setup"):
            config = self.store.resolve_secrets(self.store.get_without_checkpoints(pipeline_id))
            for message in blocking.iterate(lambda: self.engine.setup(config, only=only)):
                if isinstance(message, ControlMessage):
                    self.store.apply_control(pipeline_id, message)
            return self.store.get(pipeline_id)  # whole, checkpoints included: the API answers it

    def _lanes_to_run(
        self, pipeline_id: str, lanes_to_run: Sequence[Lane] | None, options: RunOptions
    ) -> list[Lane]:
        """The run's lanes, each refused here unless runnable. Decided from statuses and config,
        so the pipeline is read without its checkpoints (a Connect platform's backfill checkpoint
        is 21 MB of JSON at 10,000 accounts): each lane reads what it needs when it needs it."""
        pipeline = self.store.get_without_checkpoints(pipeline_id)
        chosen = list(lanes_to_run) if lanes_to_run else self._default_lanes(pipeline, options)
        for lane in chosen:
            self._refuse_unless_runnable(pipeline, lane, options)
        return chosen

    def _default_lanes(self, pipeline: Pipeline, options: RunOptions) -> list[Lane]:
        """The pipeline's lanes now; a full refresh (or a subset of streams) means its backfill."""
        if options.reset_state or options.streams is not None:
            return [Lane.BACKFILL]
        source = self.engine.registry.source(pipeline.source.type)
        return default_lanes(pipeline, source_keeps_current=isinstance(source, source_lanes.LiveLanes))

    def _refuse_unless_runnable(self, pipeline: Pipeline, lane: Lane, options: RunOptions) -> None:
        """Raise ``PipelineNotRunnableError`` when the pipeline's state forbids ``lane`` now."""
        refusal, forceable = None, True
        if lane is Lane.TEARDOWN and pipeline.desired_status is not DesiredStatus.DELETED:
            refusal = f"it is {pipeline.desired_status.value}; only a deleted pipeline is torn down"
            forceable = False
        elif lane is not Lane.TEARDOWN and pipeline.desired_status is DesiredStatus.DELETED:
            refusal = "it is deleted, and deleted is terminal: the platform only tears it down"
            forceable = False
        elif lane is not Lane.TEARDOWN and not options.force:
            error = pipeline.error if pipeline.status is PipelineStatus.ERROR else None
            if pipeline.desired_status is DesiredStatus.PAUSED:
                refusal = f"it is paused; resume it first (`sync-platform pipelines resume {pipeline.id}`)"
            elif error is not None and error.parked:
                refusal = (
                    f"it is parked after a failure: {error.summary()}. Fix the cause, then "
                    f"`sync-platform pipelines resume {pipeline.id}`"
                )
        if refusal is None and lane.keeps_current and not backfill_done(pipeline):
            refusal, forceable = "its backfill has not finished; run the backfill lane first", False
        if refusal is not None:
            hint = " Pass --force to run it anyway." if forceable else ""
            raise PipelineNotRunnableError(
                f"Not running the {lane.value} lane of pipeline {pipeline.id!r}: {refusal}.{hint}",
                paused=pipeline.desired_status is DesiredStatus.PAUSED and not options.force,
            )

    def _converge(self, pipeline_id: str) -> Iterator[RunEvent]:
        before = self.store.get_without_checkpoints(pipeline_id)  # the statuses are enough
        after = converge(self.store, before)
        if after.display_status is not before.display_status:
            yield StatusChanged(before.display_status, after.display_status, after)

    # --- shared by the lanes ------------------------------------------------------------------

    def move(
        self, pipeline: Pipeline, status: PipelineStatus, *, force: bool
    ) -> tuple[Pipeline, list[RunEvent]]:
        """Write ``status`` (a forced run writes none: the pipeline stays as its user left it)."""
        if status is pipeline.status or force:
            return pipeline, []
        moved = self.store.set_status(pipeline.id, status)
        if moved.display_status is pipeline.display_status:
            return moved, []
        return moved, [StatusChanged(pipeline.display_status, moved.display_status, moved)]
