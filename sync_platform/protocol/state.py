"""SyncState: everything needed to resume a sync, carried between calls as one JSON document."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, ValidationError

from sync_platform.protocol.base import WireModel
from sync_platform.protocol.errors import ProtocolError
from sync_platform.protocol.progress import ProgressPayload

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SourceState(WireModel):
    """The source's own checkpoint: one opaque value per stream, plus one shared ``global`` value.

    Per-stream values hold backfill positions; ``global`` holds what spans streams (the Stripe events
    cursor). Keeping the two apart is what stops an events checkpoint from overwriting a stream's
    backfill position (reference bug #1).
    """

    streams: dict[str, Any] = {}
    global_: dict[str, Any] = Field(default_factory=dict, alias="global")


class SyncRunState(WireModel):
    """The current run: its id, the frozen upper bound of time ranges, and the run's progress."""

    run_id: str | None = None
    time_ceiling: datetime | None = None
    progress: ProgressPayload = ProgressPayload(started_at=EPOCH)


class SyncState(WireModel):
    """Source checkpoint, destination checkpoint (carried through untouched) and the current run."""

    source: SourceState = SourceState()
    destination: dict[str, Any] = {}
    sync_run: SyncRunState = SyncRunState()


def empty_sync_state() -> SyncState:
    return SyncState()


def parse_sync_state(raw: Any) -> SyncState | None:
    """Turn stored JSON into a SyncState, accepting the legacy bare ``{streams, global}`` shape.

    ``None`` means "no state yet". Anything else that is not a SyncState is an error, never a silent
    reset: the reference quietly replaced unparsable state with an empty one, which restarts every
    backfill from scratch without telling anyone.
    """
    if raw is None:
        return None
    if isinstance(raw, SyncState):
        return raw
    if isinstance(raw, dict) and "source" not in raw and ("streams" in raw or "global" in raw):
        raw = {"source": copy.deepcopy(raw)}
    try:
        return SyncState.model_validate(raw)
    except ValidationError as error:
        raise ProtocolError(
            f"Stored sync_state is not a valid SyncState: {error.errors()[0]['msg']} at "
            f"{'.'.join(str(p) for p in error.errors()[0]['loc'])}. Reset it (for example with "
            "`sync-platform sync-batch <id> --reset-state`) to start over."
        ) from None
