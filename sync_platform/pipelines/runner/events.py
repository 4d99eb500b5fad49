"""What a run reports as it goes: typed events that Dagster, the CLI and the demo present.

The runner yields these and decides nothing based on who consumes them. ``EngineMessage`` passes
the engine's non-record messages through (stream statuses, committed states, progress, connector
logs) for presenters that show per-stream detail; every decision the runner took is one of the
other events.

The pipeline an event carries is read without its checkpoints (``sync_state`` and ``live_state``
``None``): presenters show statuses and configs, and a Connect platform's backfill checkpoint is
megabytes that every status move would read and every held event keep. The HTTP service reads
the whole pipeline for the run's NDJSON (``routes_runs``), which sends it as the API shows it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.runner.lanes import Lane
from sync_platform.pipelines.states import DisplayStatus, PipelineError
from sync_platform.protocol import EofPayload, Message, SyncState


@dataclass(frozen=True)
class LaneStarted:
    lane: Lane
    pipeline: Pipeline


@dataclass(frozen=True)
class StatusChanged:
    """The runner wrote the pipeline's status (``before`` and ``after`` as users see them)."""

    before: DisplayStatus
    after: DisplayStatus
    pipeline: Pipeline


@dataclass(frozen=True)
class SetupRan:
    """Connector setup provisioned what the pipeline needs (a webhook endpoint, tables, a sheet)."""

    pipeline: Pipeline


@dataclass(frozen=True)
class ControlApplied:
    """A connector replaced its config (a new webhook secret, a new spreadsheet id); stored."""

    side: str
    pipeline: Pipeline


@dataclass(frozen=True)
class BatchStarted:
    lane: Lane
    number: int


@dataclass(frozen=True)
class EngineMessage:
    """A non-record message of the running batch, for presenters (never needed to act)."""

    lane: Lane
    batch: int
    message: Message


@dataclass(frozen=True)
class CheckpointSaved:
    """A committed checkpoint was saved mid-batch: a kill now repeats only what came after it.

    ``state`` is the engine's folded state: a Connect stream's checkpoint in it may be a snapshot
    (``DeferredStateData``), which serializes as its rendering (``rendered_stream_states`` gives
    the data)."""

    lane: Lane
    batch: int
    state: SyncState


@dataclass(frozen=True)
class BatchCommitted:
    """A batch ended and its checkpoint is saved (for ``live``: with its events marked applied)."""

    lane: Lane
    number: int
    eof: EofPayload
    events_applied: int = 0


@dataclass(frozen=True)
class LaneFinished:
    """``complete``: the lane has nothing left to do; otherwise ``reason`` says why it stopped."""

    lane: Lane
    complete: bool
    reason: str
    batches: int = 0


@dataclass(frozen=True)
class Housekept:
    """Retention ran: ``inbox_rows`` applied events and ``tombstones`` remembered deletes pruned
    (None: the destination keeps no tombstones)."""

    lane: Lane
    inbox_rows: int
    tombstones: int | None


@dataclass(frozen=True)
class AccountsPurged:
    """The rows of accounts that left (a deauthorized Stripe Connect account) were removed from the
    destination, as the pipeline opted in to: ``rows`` per account, None where the destination
    cannot remove an account's rows (then nothing is recorded, and the next run tries again)."""

    lane: Lane
    rows: dict[str, int | None]

    def summary(self) -> str:
        """One line for people (the CLI, Dagster's log), naming a few accounts at most."""
        removed = {account: n for account, n in self.rows.items() if n is not None}
        kept = [account for account, n in self.rows.items() if n is None]
        parts = []
        if removed:
            parts.append(
                f"purged {sum(removed.values()):,} row(s) of {len(removed):,} deauthorized account(s) "
                f"({_few(list(removed))})"
            )
        if kept:
            parts.append(f"the destination cannot purge an account's rows; kept those of {_few(kept)}")
        return "; ".join(parts)


def _few(accounts: list[str], shown: int = 5) -> str:
    more = f" and {len(accounts) - shown:,} more" if len(accounts) > shown else ""
    return ", ".join(accounts[:shown]) + more


@dataclass(frozen=True)
class RunFailed:
    """The lane failed; ``error`` is what was recorded on the pipeline (kind, root cause, parked)."""

    lane: Lane
    error: PipelineError
    pipeline: Pipeline


RunEvent = (
    LaneStarted
    | StatusChanged
    | SetupRan
    | ControlApplied
    | BatchStarted
    | EngineMessage
    | CheckpointSaved
    | BatchCommitted
    | LaneFinished
    | Housekept
    | AccountsPurged
    | RunFailed
)
