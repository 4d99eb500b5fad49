"""One lane of one run: what every lane shares (batches, checkpoints, statuses, outcome).

``LaneRun.execute`` runs the lane's function (``backfill_lane``, ``live_lanes``, ``teardown_lane``)
and records how it ended: a failure judged by its kind (recorded on the pipeline with its root
cause; an unexpected exception is re-raised after recording, for its traceback), or a success that
resets the count of failures in a row. ``batch`` is one engine sync whose committed states are
saved as they come (``CheckpointWriter``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Sequence
from typing import TYPE_CHECKING, Any

from sync_platform.engine import Engine, blocking, offline_catalog
from sync_platform.errors import ConfigError, FailureKind, SyncPlatformError, did_you_mean, failure_kind_of
from sync_platform.gc_policy import collect_after_batch
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.inbox import InboxEvent
from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.run_lock import PipelineBusyError, RunLock
from sync_platform.pipelines.runner.backfill_lane import backfill
from sync_platform.pipelines.runner.checkpoint_writer import CheckpointWriter
from sync_platform.pipelines.runner.events import (
    BatchStarted,
    CheckpointSaved,
    ControlApplied,
    EngineMessage,
    LaneStarted,
    RunEvent,
    RunFailed,
    StatusChanged,
)
from sync_platform.pipelines.runner.judge import LaneFailure
from sync_platform.pipelines.runner.lanes import Lane
from sync_platform.pipelines.runner.live_lanes import live, poll, reconcile
from sync_platform.pipelines.runner.options import PipelineNotRunnableError, RunOptions
from sync_platform.pipelines.runner.teardown_lane import teardown
from sync_platform.pipelines.states import DesiredStatus, PipelineStatus
from sync_platform.protocol import (
    ControlMessage,
    EofMessage,
    EofPayload,
    Message,
    PipelineConfig,
    SourceConfigControl,
    StreamComplete,
    StreamConfig,
    StreamError,
    StreamSkip,
    StreamStatusMessage,
    SyncMode,
)

if TYPE_CHECKING:
    from sync_platform.pipelines.runner.runner import PipelineRunner

logger = logging.getLogger(__name__)

LaneFunction = Callable[["LaneRun", Pipeline], Generator[RunEvent, None, None]]
LANES: dict[Lane, LaneFunction] = {
    Lane.BACKFILL: backfill,
    Lane.LIVE: live,
    Lane.POLL: poll,
    Lane.RECONCILE: reconcile,
    Lane.TEARDOWN: teardown,
}


class LaneRun:
    """One lane of one run: its options, batches, checkpoints and outcome.

    The lanes themselves are functions of a ``LaneRun`` (``backfill_lane``, ``live_lanes``,
    ``teardown_lane``); what they share is here: running one engine batch with its checkpoints
    saved as they commit, status moves, the pipeline's streams and the engine's config.
    """

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
        self.saved_version: int | None = None  # the checkpoint version the last batch's saves reached

    def execute(self) -> Generator[RunEvent, None, bool]:
        """The lane, then its outcome recorded: True when it did not fail.

        The lane, and ``LaneStarted``, get the pipeline without its checkpoints, and the lane
        reads them when it needs them: a pipeline read with them and kept for the lane (or by a
        presenter still holding the event) held the checkpoint as the run found it next to the
        first batch's own (on a Connect platform, an entry per account and stream)."""
        pipeline = self.store.get_without_checkpoints(self.pipeline_id)
        yield LaneStarted(self.lane, pipeline)
        try:
            work = LANES[self.lane](self, pipeline)
            # Not kept here: a lane reads the pipeline again as it goes (a backfill at each batch),
            # and this copy's config (a Connect platform's every account id) would live beside those.
            del pipeline
            yield from work
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
        pipeline = self.store.get_without_checkpoints(self.pipeline_id)  # the statuses are enough
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

    def move(self, pipeline: Pipeline, status: PipelineStatus) -> Generator[RunEvent, None, Pipeline]:
        moved, events = self.runner.move(pipeline, status, force=self.options.force)
        yield from events
        return moved

    def _out_of_time(self) -> bool:
        return self.deadline is not None and self.runner.monotonic() >= self.deadline

    def stopped_by_user(self) -> str | None:
        """Why the lane must stop between batches (the user paused or deleted it), or None."""
        pipeline = self.store.get_without_checkpoints(self.pipeline_id)
        if self.options.force or pipeline.desired_status is DesiredStatus.ACTIVE:
            return None
        return f"the pipeline was {pipeline.desired_status.value} while it ran"

    def limits_reached(self) -> str | None:
        if self.options.max_batches is not None and self.batches >= self.options.max_batches:
            return f"ran the {self.batches} batch(es) asked for"
        if self._out_of_time():
            return "the run's time limit is spent"
        return None

    def batch(
        self,
        config: PipelineConfig,
        checkpoint: Checkpoint,
        *,
        checkpoint_lane: CheckpointLane | None,
        pushed: list[InboxEvent] | None = None,
        state: Any = None,
    ) -> Generator[RunEvent, None, EofPayload]:
        """One ``engine.sync`` call; committed states are saved as they come when ``checkpoint_lane``
        is set (and the final one at the end). It starts from ``state`` when given (a
        ``StateHandoff`` for a big checkpoint, so this frame does not keep it), else from
        ``checkpoint.state``; ``checkpoint.version`` is what the saves expect."""
        self.batches += 1
        number = self.batches
        started = self.runner.monotonic()
        yield BatchStarted(self.lane, number)
        writer = (
            CheckpointWriter(
                self.store, self.pipeline_id, checkpoint_lane, checkpoint.version, lock=self.lock
            )
            if checkpoint_lane is not None
            else None
        )
        soft_limit = max(1.0, self.deadline - self.runner.monotonic()) if self.deadline else None
        eof: EofPayload | None = None
        messages = blocking.iterate(
            lambda: self.engine.sync(
                config,
                state=state if state is not None else checkpoint.state,
                run_id=self.run_id,
                # Claimed events are marked applied together: a pushed batch is never cut short
                # (the claim limit bounds it), or the events after the cut would be lost.
                state_limit=self.options.state_limit if pushed is None else None,
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
                    yield ControlApplied(control_side(message), pipeline)
                if writer is not None and _ends_a_stream(message):
                    writer.save_now()  # the stream's final checkpoint is stored before its end is told
                yield EngineMessage(self.lane, number, message)
                if writer is not None:
                    # Not a loop variable of this frame: it would keep the state saved last (and
                    # every stream checkpoint in it) alive until the next save, while the fold moves on.
                    yield from (CheckpointSaved(self.lane, number, saved) for saved in writer.take_saved())
        except GeneratorExit:
            # The caller stopped consuming (Ctrl-C, an HTTP client that went away): stop the engine,
            # then save the last committed state the writer was handed, so nothing committed is lost.
            messages.close()
            if writer is not None:
                try:
                    writer.finish(None)
                except Exception as error:  # reported, never raised over the caller's exit
                    logger.warning("could not save the last checkpoint of %s: %s", self.pipeline_id, error)
            raise
        except Exception:
            if eof is None:  # not a connector failure the engine reported: a crash of the run
                if writer is not None:
                    writer.finish(None)
                raise
        if eof is None:  # pragma: no cover - the engine always ends with an eof
            raise RuntimeError("The engine ended a batch without an eof message.")
        if writer is not None:
            writer.finish(eof.ending_state)
            self.saved_version = writer.version
        # What the batch held in reference cycles became garbage as it ended: collected now, not
        # beside the next batch's own (``gc_policy``).
        collect_after_batch(self.runner.monotonic() - started)
        return eof

    # --- the engine's view of the pipeline ----------------------------------------------------

    def streams(self, pipeline: Pipeline, subset: Sequence[str] | None) -> list[str]:
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

    def engine_config(self, pipeline: Pipeline, mode: SyncMode, streams: list[str]) -> PipelineConfig:
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


def _ends_a_stream(message: Message) -> bool:
    """A stream's terminal status (complete, skip, error)."""
    return isinstance(message, StreamStatusMessage) and isinstance(
        message.stream_status, StreamComplete | StreamSkip | StreamError
    )


def control_side(message: ControlMessage) -> str:
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
