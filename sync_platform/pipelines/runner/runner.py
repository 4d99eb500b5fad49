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
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sync_platform.engine import DEFAULT_STATE_LIMIT, Engine, blocking, offline_catalog, source_lanes
from sync_platform.engine.resolve import bind_destination, bind_source
from sync_platform.errors import ConfigError, FailureKind, SyncPlatformError, did_you_mean, failure_kind_of
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.inbox import InboxEvent
from sync_platform.pipelines.lifecycle import resume_target, target_status
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.run_lock import PipelineBusyError, RunLock
from sync_platform.pipelines.runner.checkpoint_writer import CheckpointWriter
from sync_platform.pipelines.runner.events import (
    BatchCommitted,
    BatchStarted,
    CheckpointSaved,
    ControlApplied,
    EngineMessage,
    Housekept,
    LaneFinished,
    LaneStarted,
    RunEvent,
    RunFailed,
    SetupRan,
    StatusChanged,
)
from sync_platform.pipelines.runner.judge import LaneFailure, batch_failure, errored_streams, streams_failure
from sync_platform.pipelines.runner.lanes import Lane, backfill_done, default_lanes
from sync_platform.pipelines.runner.retention import Retention
from sync_platform.pipelines.states import WORKING_STATUSES, DesiredStatus, PipelineStatus
from sync_platform.pipelines.store import PipelineStore
from sync_platform.protocol import (
    ControlMessage,
    EofMessage,
    EofPayload,
    LogMessage,
    PipelineConfig,
    SourceConfigControl,
    StreamConfig,
    SyncMode,
    SyncState,
    utc_now,
)

logger = logging.getLogger(__name__)

LIVE_CLAIM_LIMIT = 500
LIVE_TIME_BUDGET_SECONDS = 120.0
"""A live run applies what arrives while it runs, for up to this long (then the next run goes on)."""


Side = Literal["source", "destination"]


class PipelineNotRunnableError(SyncPlatformError, RuntimeError):
    """The pipeline's state forbids this run; ``paused`` says the user paused it (a run that finds
    its pipeline paused has nothing to do, which is not a failure of anything)."""

    http_status = 409

    def __init__(self, message: str, *, paused: bool = False) -> None:
        self.paused = paused
        super().__init__(message)


@dataclass(frozen=True)
class RunOptions:
    """How far one run goes. Defaults: every stream of the pipeline, until there is nothing left."""

    state_limit: int | None = DEFAULT_STATE_LIMIT  # None: one batch reads everything
    time_limit: float | None = None  # seconds for the whole run; it stops after the batch that crosses it
    max_batches: int | None = None  # per lane; None = until done
    streams: Sequence[str] | None = None  # a subset of the pipeline's streams (backfill, reconcile)
    full_refresh: bool = False  # forget the backfill checkpoint of the selected streams first
    force: bool = False  # run a paused, deleted or parked pipeline anyway (statuses are left alone)
    run_id: str | None = None  # the engine run id (same id = continue where that run stopped)
    retention: Retention = field(default_factory=Retention)  # what the reconcile lane prunes


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
        self._monotonic = monotonic
        self._now = now

    # --- the entry point ----------------------------------------------------------------------

    def run(
        self, pipeline_id: str, lanes_to_run: Sequence[Lane] | None = None, options: RunOptions | None = None
    ) -> Iterator[RunEvent]:
        """Run ``lanes_to_run`` (default: what the pipeline needs now) one after the other.

        Raises ``PipelineNotRunnableError`` or ``PipelineBusyError`` before any work; a lane that
        fails yields ``RunFailed`` (its error is recorded on the pipeline) and ends the run.
        """
        options = options or RunOptions()
        pipeline = self.store.get(pipeline_id)
        chosen = list(lanes_to_run) if lanes_to_run else self._default_lanes(pipeline, options)
        for lane in chosen:
            self._refuse_unless_runnable(pipeline, lane, options)
        if not chosen:
            return
        with self.store.run_lock(pipeline_id, holder=self.holder, lane=chosen[0].value) as lock:
            started = self._monotonic()
            for lane in chosen:
                lock.set_lane(lane.value)
                run = _LaneRun(self, lane, pipeline_id, options, lock, started)
                ok = yield from run.execute()
                if not ok:
                    return
            yield from self._converge(pipeline_id)  # e.g. a forced run of a paused pipeline: paused again

    def provision(
        self, pipeline_id: str, *, only: Literal["source", "destination"] | None = None
    ) -> Pipeline:
        """Run connector setup again outside any lane (idempotent) and store what it reports back.

        For a pipeline whose provisioned resources vanished underneath it: the dev stack's fresh
        emulator keeps no webhook endpoints, so each pipeline's source is set up again. Holds the
        run lock while it does, so it never races a run of the pipeline.
        """
        with self.store.run_lock(pipeline_id, holder=self.holder, lane="setup"):
            pipeline = self.store.get(pipeline_id)
            config = self.store.resolve_secrets(pipeline)
            for message in blocking.iterate(lambda: self.engine.setup(config, only=only)):
                if isinstance(message, ControlMessage):
                    pipeline = self.store.apply_control(pipeline_id, message)
        return pipeline

    def _default_lanes(self, pipeline: Pipeline, options: RunOptions) -> list[Lane]:
        """The pipeline's lanes now; a full refresh (or a subset of streams) means its backfill."""
        if options.full_refresh or options.streams is not None:
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
        before = self.store.get(pipeline_id)
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


class _LaneRun:
    """One lane of one run: its batches, its checkpoints, its outcome."""

    def __init__(
        self,
        runner: PipelineRunner,
        lane: Lane,
        pipeline_id: str,
        options: RunOptions,
        lock: RunLock,
        run_started: float,
    ) -> None:
        self.runner = runner
        self.store = runner.store
        self.engine = runner.engine
        self.lane = lane
        self.pipeline_id = pipeline_id
        self.options = options
        self.lock = lock
        self.deadline = run_started + options.time_limit if options.time_limit else None
        self.run_id = options.run_id or str(uuid.uuid4())
        self.batches = 0

    def execute(self) -> Generator[RunEvent, None, bool]:
        """The lane, then its outcome recorded: True when it did not fail."""
        pipeline = self.store.get(self.pipeline_id)
        yield LaneStarted(self.lane, pipeline)
        work = {
            Lane.BACKFILL: self._backfill,
            Lane.LIVE: self._live,
            Lane.POLL: self._poll,
            Lane.RECONCILE: self._reconcile,
            Lane.TEARDOWN: self._teardown,
        }[self.lane]
        try:
            yield from work(pipeline)
        except (PipelineBusyError, PipelineNotRunnableError):
            raise
        except LaneFailure as failure:
            yield self._failed(failure.failure_kind, str(failure), failure.stream)
            return False
        except Exception as error:
            kind = failure_kind_of(error)
            yield self._failed(kind, _root_cause(error), None)
            if kind is FailureKind.INTERNAL:
                raise  # an unexpected exception: a bug, whose traceback the caller should see
            return False
        pipeline = self.store.get(self.pipeline_id)
        error = pipeline.error if pipeline.status is PipelineStatus.ERROR else None
        recovering = pipeline.consecutive_failures > 0 or error is not None
        if recovering and pipeline.torn_down_at is None and not (error is not None and error.parked):
            recovered = self.store.record_success(self.pipeline_id)
            if recovered.display_status is not pipeline.display_status:
                yield StatusChanged(pipeline.display_status, recovered.display_status, recovered)
        return True

    def _failed(self, kind: FailureKind, message: str, stream: str | None) -> RunFailed:
        pipeline = self.store.record_failure(
            self.pipeline_id, kind=kind, message=message, stream=stream, lane=self.lane.value,
            run=self.runner.holder,
        )  # fmt: skip
        assert pipeline.error is not None
        logger.info("pipeline %s: %s lane failed: %s", self.pipeline_id, self.lane, pipeline.error.summary())
        return RunFailed(self.lane, pipeline.error, pipeline)

    def _move(self, pipeline: Pipeline, status: PipelineStatus) -> Generator[RunEvent, None, Pipeline]:
        moved, events = self.runner.move(pipeline, status, force=self.options.force)
        yield from events
        return moved

    def _out_of_time(self) -> bool:
        return self.deadline is not None and self.runner._monotonic() >= self.deadline

    def _stopped_by_user(self) -> str | None:
        """Why the lane must stop between batches (the user paused or deleted it), or None."""
        pipeline = self.store.get(self.pipeline_id)
        if self.options.force or pipeline.desired_status is DesiredStatus.ACTIVE:
            return None
        return f"the pipeline was {pipeline.desired_status.value} while it ran"

    def _limits_reached(self) -> str | None:
        if self.options.max_batches is not None and self.batches >= self.options.max_batches:
            return f"ran the {self.batches} batch(es) asked for"
        if self._out_of_time():
            return "the run's time limit is spent"
        return None

    # --- backfill -----------------------------------------------------------------------------

    def _backfill(self, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
        pipeline = yield from self._enter_working_status(pipeline)
        streams = self._streams(pipeline, self.options.streams)
        if self.options.full_refresh:
            self._forget_backfill_of(pipeline, streams)
        failed: dict[str, Any] = {}
        complete, reason = False, ""
        while True:
            if stop := self._stopped_by_user():
                reason = stop
                break
            pipeline = self.store.get(self.pipeline_id)
            checkpoint = self.store.get_checkpoint(self.pipeline_id, CheckpointLane.BACKFILL)
            config = self._engine_config(pipeline, SyncMode.FULL_REFRESH, streams)
            eof = yield from self._batch(config, checkpoint, checkpoint_lane=CheckpointLane.BACKFILL)
            yield BatchCommitted(self.lane, self.batches, eof)
            if failure := batch_failure(eof, stream_errors=False):
                raise failure
            failed.update({f.stream: f for f in errored_streams(eof.request_progress)})
            if not eof.has_more:
                complete, reason = True, "every stream is backfilled"
                break
            if limit := self._limits_reached():
                reason = f"{limit}; the next run resumes from the last checkpoint"
                break
        if failed:
            raise streams_failure(list(failed.values()))
        pipeline = self.store.get(self.pipeline_id)
        covers_pipeline = set(self._streams(pipeline, None)) <= set(streams)
        if complete and covers_pipeline and pipeline.status is PipelineStatus.BACKFILL:
            yield from self._move(pipeline, PipelineStatus.READY)
        yield LaneFinished(self.lane, complete, reason, self.batches)

    def _enter_working_status(self, pipeline: Pipeline) -> Generator[RunEvent, None, Pipeline]:
        """Run setup for a new pipeline; bring a paused or failed one back to the status it left."""
        status = pipeline.status if pipeline.status in WORKING_STATUSES else resume_target(pipeline.lifecycle)
        if status is PipelineStatus.SETUP:
            return (yield from self._setup(pipeline))
        return (yield from self._move(pipeline, status))

    def _setup(self, pipeline: Pipeline) -> Generator[RunEvent, None, Pipeline]:
        """Provision both connectors and persist what they report back, then start the backfill."""
        config = self.store.resolve_secrets(pipeline)
        for message in blocking.iterate(lambda: self.engine.setup(config)):
            if isinstance(message, ControlMessage):
                pipeline = self.store.apply_control(self.pipeline_id, message)
                yield ControlApplied(_side(message), pipeline)
            elif isinstance(message, LogMessage):
                yield EngineMessage(self.lane, 0, message)
        yield SetupRan(pipeline)
        return (yield from self._move(pipeline, PipelineStatus.BACKFILL))

    def _forget_backfill_of(self, pipeline: Pipeline, streams: list[str]) -> None:
        """Full refresh: only the selected streams start over (all of them: the whole checkpoint)."""
        if set(self._streams(pipeline, None)) <= set(streams):
            self.store.reset_checkpoints(self.pipeline_id, [CheckpointLane.BACKFILL])
            return

        def forget(tx: Any) -> None:
            checkpoint = tx.get_checkpoint(self.pipeline_id, CheckpointLane.BACKFILL)
            if not checkpoint.state:
                return
            state = dict(checkpoint.state)
            source = dict(state.get("source") or {})
            source["streams"] = {k: v for k, v in (source.get("streams") or {}).items() if k not in streams}
            state["source"] = source
            tx.save_checkpoint(
                self.pipeline_id, state, lane=CheckpointLane.BACKFILL, expected_version=checkpoint.version
            )

        self.store.atomically(forget)

    # --- live, poll, reconcile ----------------------------------------------------------------

    def _live(self, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
        """Apply the webhook inbox: claim, apply, then save the cursor and mark the events applied
        together (a crash in between re-applies them, which newer-wins makes harmless)."""
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL, self._streams(pipeline, None))
        budget = self.deadline or self.runner._monotonic() + LIVE_TIME_BUDGET_SECONDS
        applied, reason = 0, "every pending event is applied"
        while True:
            if stop := self._stopped_by_user():
                reason = stop
                break
            events = self.store.claim_inbox_events(self.pipeline_id, limit=LIVE_CLAIM_LIMIT)
            if not events:
                break
            checkpoint = self.store.get_checkpoint(self.pipeline_id, CheckpointLane.LIVE)
            start = checkpoint if checkpoint.state else self._live_start(pipeline, checkpoint)
            eof = yield from self._batch(config, start, checkpoint_lane=None, pushed=events)
            if failure := batch_failure(eof, stream_errors=True):
                raise failure  # nothing marked applied: the events stay pending for the retry

            def commit(
                tx: Any,
                eof: EofPayload = eof,
                events: list[InboxEvent] = events,
                version: int = checkpoint.version,
            ) -> None:
                tx.save_checkpoint(
                    self.pipeline_id, eof.ending_state, lane=CheckpointLane.LIVE, expected_version=version
                )
                tx.mark_inbox_processed([event.id for event in events])

            self.store.atomically(commit)
            applied += len(events)
            yield BatchCommitted(self.lane, self.batches, eof, events_applied=len(events))
            if self.runner._monotonic() >= budget or self._limits_reached():
                reason = f"applied {applied} event(s); the rest waits for the next run"
                break
        yield LaneFinished(self.lane, reason.startswith("every"), reason, self.batches)

    def _poll(self, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
        """Read the source's changes since the live checkpoint, saving it as pages commit."""
        config = self._engine_config(pipeline, SyncMode.INCREMENTAL, self._streams(pipeline, None))
        complete, reason = False, ""
        while True:
            if stop := self._stopped_by_user():
                reason = stop
                break
            checkpoint = self.store.get_checkpoint(self.pipeline_id, CheckpointLane.LIVE)
            start = checkpoint if checkpoint.state else self._live_start(pipeline, checkpoint)
            eof = yield from self._batch(config, start, checkpoint_lane=CheckpointLane.LIVE)
            yield BatchCommitted(self.lane, self.batches, eof)
            if failure := batch_failure(eof, stream_errors=True):
                raise failure
            if not eof.has_more:
                complete, reason = True, "caught up with the source's changes"
                break
            if limit := self._limits_reached():
                reason = limit
                break
        yield LaneFinished(self.lane, complete, reason, self.batches)

    def _reconcile(self, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
        """Replay the source's recent changes from a throwaway state: heals what a webhook missed
        and moves no checkpoint."""
        source = bind_source(self.engine.registry, self.store.resolve_secrets(pipeline).source).connector
        replay = source_lanes.replay_state(source, self.runner._now())
        if replay is None:
            yield LaneFinished(self.lane, True, f"the {pipeline.source.type} source cannot replay changes")
            return
        config = self._engine_config(
            pipeline, SyncMode.INCREMENTAL, self._streams(pipeline, self.options.streams)
        )
        state: Any = SyncState(source=replay)
        while True:
            nowhere = Checkpoint(self.pipeline_id, CheckpointLane.LIVE, None, 0, None)
            eof = yield from self._batch(config, nowhere, checkpoint_lane=None, state=state)
            yield BatchCommitted(self.lane, self.batches, eof)
            if failure := batch_failure(eof, stream_errors=True):
                raise failure
            state = eof.ending_state  # in memory only
            if not eof.has_more:
                break
        yield self._housekeeping(pipeline)
        yield LaneFinished(self.lane, True, "replayed the recent changes", self.batches)

    def _housekeeping(self, pipeline: Pipeline) -> Housekept:
        """Retention (see ``retention``): applied inbox rows, then the destination's tombstones."""
        now = self.runner._now()
        retention = self.options.retention
        inbox_rows = self.store.prune_processed_inbox(now - retention.inbox, self.pipeline_id)
        destination = self.store.resolve_secrets(pipeline).destination
        bound = bind_destination(self.engine.registry, destination)
        tombstones = prune_tombstones(bound.connector, bound.config, now - retention.tombstones)
        return Housekept(self.lane, inbox_rows, tombstones)

    def _live_start(self, pipeline: Pipeline, checkpoint: Checkpoint) -> Checkpoint:
        """The first live read starts where the source says, from the backfill's checkpoint."""
        backfill = self.store.get_checkpoint(self.pipeline_id, CheckpointLane.BACKFILL).state
        source = bind_source(self.engine.registry, self.store.resolve_secrets(pipeline).source).connector
        parsed = SyncState.model_validate(backfill).source if backfill else None
        start = source_lanes.live_state(source, parsed)
        state = None if start is None else SyncState(source=start).model_dump(mode="json", by_alias=True)
        return Checkpoint(
            checkpoint.pipeline_id, checkpoint.lane, state, checkpoint.version, checkpoint.updated_at
        )

    # --- teardown -----------------------------------------------------------------------------

    def _teardown(self, pipeline: Pipeline) -> Generator[RunEvent, None, None]:
        if pipeline.torn_down_at is not None:
            yield LaneFinished(self.lane, True, "already torn down")
            return
        pipeline = yield from self._move(pipeline, PipelineStatus.TEARDOWN)
        config = self.store.resolve_secrets(pipeline)
        for message in blocking.iterate(lambda: self.engine.teardown(config)):
            if isinstance(message, LogMessage):
                yield EngineMessage(self.lane, 0, message)
        before = self.store.get(self.pipeline_id)
        done = self.store.mark_torn_down(self.pipeline_id)
        yield StatusChanged(before.display_status, done.display_status, done)
        yield LaneFinished(self.lane, True, "torn down")

    # --- one batch ----------------------------------------------------------------------------

    def _batch(
        self,
        config: PipelineConfig,
        checkpoint: Checkpoint,
        *,
        checkpoint_lane: CheckpointLane | None,
        pushed: list[InboxEvent] | None = None,
        state: Any = None,
    ) -> Generator[RunEvent, None, EofPayload]:
        """One ``engine.sync`` call; committed states are saved as they come when ``checkpoint_lane``
        is set (and the final one at the end)."""
        self.batches += 1
        number = self.batches
        yield BatchStarted(self.lane, number)
        writer = (
            CheckpointWriter(
                self.store, self.pipeline_id, checkpoint_lane, checkpoint.version, lock=self.lock
            )
            if checkpoint_lane is not None
            else None
        )
        soft_limit = max(1.0, self.deadline - self.runner._monotonic()) if self.deadline else None
        eof: EofPayload | None = None
        messages = blocking.iterate(
            lambda: self.engine.sync(
                config,
                state=state if state is not None else checkpoint.state,
                run_id=self.run_id,
                state_limit=self.options.state_limit,
                soft_time_limit=soft_limit,
                input=_pushed(pushed) if pushed is not None else None,
                on_checkpoint=writer.offer if writer is not None else None,
            )
        )
        try:
            for message in messages:
                if isinstance(message, EofMessage):
                    eof = message.eof
                    continue
                if isinstance(message, ControlMessage):
                    pipeline = self.store.apply_control(self.pipeline_id, message)
                    yield ControlApplied(_side(message), pipeline)
                yield EngineMessage(self.lane, number, message)
                if writer is not None:
                    for saved in writer.take_saved():
                        yield CheckpointSaved(self.lane, number, saved)
        except Exception:
            if eof is None:  # not a connector failure the engine reported: a crash of the run
                if writer is not None:
                    writer.finish(None)
                raise
        if eof is None:  # pragma: no cover - the engine always ends with an eof
            raise RuntimeError("The engine ended a batch without an eof message.")
        if writer is not None:
            writer.finish(eof.ending_state)
        return eof

    # --- the engine's view of the pipeline ----------------------------------------------------

    def _streams(self, pipeline: Pipeline, subset: Sequence[str] | None) -> list[str]:
        """The pipeline's streams, or those of ``subset`` it syncs (an unknown name is refused)."""
        synced = (
            [selection.name for selection in pipeline.streams]
            if pipeline.streams is not None
            else _catalog_names(self.engine, self.store.resolve_secrets(pipeline))
        )
        if subset is None:
            return synced
        for name in subset:
            if name not in synced:
                raise ConfigError(
                    f"Pipeline {pipeline.id!r} does not sync stream {name!r}.{did_you_mean(name, synced)}",
                    field="streams",
                )
        return [name for name in synced if name in set(subset)]

    def _engine_config(self, pipeline: Pipeline, mode: SyncMode, streams: list[str]) -> PipelineConfig:
        """Plaintext secrets (in-process only) and these streams in this mode."""
        resolved = self.store.resolve_secrets(pipeline)
        limits = {selection.name: selection.backfill_limit for selection in pipeline.streams or []}
        return PipelineConfig(
            source=resolved.source,
            destination=resolved.destination,
            streams=[StreamConfig(name=n, sync_mode=mode, backfill_limit=limits.get(n)) for n in streams],
        )


def _catalog_names(engine: Engine, config: PipelineConfig) -> list[str]:
    """Every stream of the pipeline's source (for a pipeline that syncs all of them): its offline
    catalog when it has one, else what ``discover`` says."""
    catalog = offline_catalog(engine.registry.source(config.source.type))
    if catalog is None:
        catalog = blocking.run(engine.discover(config.source))
    return [stream.name for stream in catalog.streams]


def prune_tombstones(destination: object, config: dict[str, Any], older_than: datetime) -> int | None:
    """The destination's tombstones older than ``older_than`` pruned; None when it keeps none."""
    prune = getattr(destination, "prune_tombstones", None)
    return prune(config, older_than) if callable(prune) else None


def _side(message: ControlMessage) -> str:
    return "source" if isinstance(message.control, SourceConfigControl) else "destination"


def _root_cause(error: BaseException) -> str:
    """What went wrong, not what wrapped it: the first of our own errors along the explicit causes
    (their messages already say what failed, where and what to do), else the innermost cause."""
    while not isinstance(error, SyncPlatformError) and error.__cause__ is not None:
        error = error.__cause__
    text = str(error).strip()
    if isinstance(error, SyncPlatformError):
        return text or type(error).__name__
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


async def _pushed(events: list[InboxEvent]) -> AsyncIterator[Any]:
    """Inbox events, oldest first, as the source's pushed input (verified once, at intake)."""
    for event in events:
        yield event.payload
