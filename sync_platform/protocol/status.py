"""Status payloads: how a connection, a stream or a whole run is doing."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from sync_platform.errors import FailureKind
from sync_platform.protocol.base import WireModel
from sync_platform.protocol.catalog import OpenTimeRange, TimeRange


class ConnectionStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ConnectionStatusPayload(WireModel):
    """Whether a connector can reach its system; ``failed`` during a read is fatal for the whole run."""

    status: ConnectionStatus
    message: str | None = None
    failure_kind: FailureKind | None = None  # with ``failed``: why, as the platform acts on it


class StreamStart(WireModel):
    stream: str
    status: Literal["start"] = "start"
    time_range: OpenTimeRange | None = None


class StreamRangeComplete(WireModel):
    """Telemetry only: a time range of the stream is fully read. It never decides ``has_more``."""

    stream: str
    status: Literal["range_complete"] = "range_complete"
    range_complete: TimeRange


class StreamComplete(WireModel):
    stream: str
    status: Literal["complete"] = "complete"


class StreamError(WireModel):
    """The stream failed for this run; other streams carry on."""

    stream: str
    status: Literal["error"] = "error"
    error: str
    failure_kind: FailureKind | None = None  # unset from a connector that does not classify


class StreamSkip(WireModel):
    """The stream cannot be read on this account (feature not enabled, test-mode only...)."""

    stream: str
    status: Literal["skip"] = "skip"
    reason: str


StreamStatusPayload = Annotated[
    StreamStart | StreamRangeComplete | StreamComplete | StreamError | StreamSkip,
    Field(discriminator="status"),
]


class StreamRunStatus(StrEnum):
    """A stream's status within one run, as folded from its ``stream_status`` messages."""

    NOT_STARTED = "not_started"
    STARTED = "started"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    ERRORED = "errored"


TERMINAL_STREAM_STATUSES = frozenset(
    {StreamRunStatus.COMPLETED, StreamRunStatus.SKIPPED, StreamRunStatus.ERRORED}
)


class RunStatus(StrEnum):
    STARTED = "started"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
