"""The pipeline runner: what each lane does, status moves, checkpoints, failures and the run lock.

Written once here; Dagster (``defs``), the CLI, the demo and the HTTP API drive it and present
its events. Plain Python: no Dagster, no HTTP.
"""

from sync_platform.pipelines.runner.events import (
    AccountsPurged,
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
from sync_platform.pipelines.runner.judge import LaneFailure
from sync_platform.pipelines.runner.lanes import Lane, backfill_done, default_lanes
from sync_platform.pipelines.runner.options import PipelineNotRunnableError, RunOptions
from sync_platform.pipelines.runner.retention import Retention
from sync_platform.pipelines.runner.runner import PipelineRunner, converge

__all__ = [
    "AccountsPurged",
    "BatchCommitted",
    "BatchStarted",
    "CheckpointSaved",
    "ControlApplied",
    "EngineMessage",
    "Housekept",
    "Lane",
    "LaneFailure",
    "LaneFinished",
    "LaneStarted",
    "PipelineNotRunnableError",
    "PipelineRunner",
    "Retention",
    "RunEvent",
    "RunFailed",
    "RunOptions",
    "SetupRan",
    "StatusChanged",
    "backfill_done",
    "converge",
    "default_lanes",
]
