"""Whether a batch failed, and how, read from its eof: by the failures' kinds, never their wording.

The engine puts the kind of an exception on the eof (``failure_kind``); connectors put theirs on
``connection_status: failed`` and ``stream_status: error``, and the engine keeps a stream's on its
progress. A failure a connector did not classify is ``internal`` (retried a bounded number of
times), except a failed connection, which is ``transient``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync_platform.errors import FailureKind, SyncPlatformError
from sync_platform.protocol import ConnectionStatus, EofPayload, EofReason, ProgressPayload, StreamRunStatus


class LaneFailure(SyncPlatformError, RuntimeError):
    """A lane cannot go on: recorded on the pipeline as its error, with this kind and root cause."""

    def __init__(self, kind: FailureKind, message: str, *, stream: str | None = None) -> None:
        self.failure_kind = kind
        self.stream = stream
        super().__init__(message)


@dataclass(frozen=True)
class StreamFailure:
    stream: str
    kind: FailureKind
    message: str


def errored_streams(progress: ProgressPayload) -> list[StreamFailure]:
    return [
        StreamFailure(name, stream.failure_kind or FailureKind.INTERNAL, stream.message or "failed")
        for name, stream in sorted(progress.streams.items())
        if stream.status is StreamRunStatus.ERRORED
    ]


def streams_failure(failures: list[StreamFailure]) -> LaneFailure:
    """One failure for several failed streams: the kind that retrying cannot fix wins."""
    worst = min(failures, key=lambda f: (not f.kind.parks, f.stream))
    if len(failures) == 1:
        return LaneFailure(worst.kind, f"Stream {worst.stream} failed: {worst.message}", stream=worst.stream)
    details = "; ".join(f"{f.stream}: {f.message}" for f in failures)
    return LaneFailure(worst.kind, f"{len(failures)} streams failed: {details}", stream=worst.stream)


def batch_failure(eof: EofPayload, *, stream_errors: bool) -> LaneFailure | None:
    """The batch's failure, or None. With ``stream_errors`` a failed stream fails the batch too
    (the live lanes must not mark events applied, or move a cursor, past a stream that failed)."""
    if eof.reason is EofReason.ERROR:
        return LaneFailure(eof.failure_kind or FailureKind.INTERNAL, eof.error or "The sync failed.")
    connection = eof.request_progress.connection_status or eof.run_progress.connection_status
    if connection is not None and connection.status is ConnectionStatus.FAILED:
        kind = connection.failure_kind or FailureKind.TRANSIENT
        return LaneFailure(kind, connection.message or "The source could not connect.")
    if stream_errors and (failed := errored_streams(eof.request_progress)):
        return streams_failure(failed)
    return None
