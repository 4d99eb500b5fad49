"""What a caller asks of one run (``RunOptions``), and the refusal when the pipeline may not run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sync_platform.engine import DEFAULT_STATE_LIMIT
from sync_platform.errors import SyncPlatformError
from sync_platform.pipelines.runner.retention import Retention

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
    reset_state: bool = False  # forget the backfill checkpoint of the selected streams first
    force: bool = False  # run a paused, deleted or parked pipeline anyway (statuses are left alone)
    run_id: str | None = None  # the engine run id (same id = continue where that run stopped)
    retention: Retention = field(default_factory=Retention)  # what the reconcile lane prunes
