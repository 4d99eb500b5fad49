"""EofPayload: the terminal summary of one sync request, including the checkpoint to resume from."""

from __future__ import annotations

from enum import StrEnum

from sync_platform.errors import FailureKind
from sync_platform.protocol.base import WireModel
from sync_platform.protocol.progress import ProgressPayload
from sync_platform.protocol.state import SyncState
from sync_platform.protocol.status import RunStatus


class EofReason(StrEnum):
    """Why the request ended; ``has_more`` is true for every reason but ``complete`` and ``error``."""

    COMPLETE = "complete"
    STATE_LIMIT = "state_limit"
    TIME_LIMIT = "time_limit"
    ABORTED = "aborted"
    ERROR = "error"


class EofPayload(WireModel):
    """``has_more`` means "call again with ``ending_state``"; it is never derived from stream statuses.

    ``run_progress`` accumulates across every request of the same ``run_id``; ``request_progress``
    covers this request only. ``error`` carries the failure message when ``reason`` is ``error``.
    """

    status: RunStatus
    has_more: bool
    ending_state: SyncState | None = None
    run_progress: ProgressPayload
    request_progress: ProgressPayload
    reason: EofReason | None = None
    error: str | None = None
    failure_kind: FailureKind | None = None  # with ``error``: the failure's kind (from its type)
