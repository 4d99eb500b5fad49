"""What can go wrong writing to Google Sheets, each with the object involved and the next step.

Each error carries a ``failure_kind`` (``sync_platform.errors.FailureKind``) that the pipeline runner
acts on: fixed per class, or, for a failed API call, taken from the HTTP status
(``sheets_failure_kind``), never from Google's wording.
"""

from __future__ import annotations

from http import HTTPStatus

from sync_platform.errors import ConfigError, FailureKind, SyncPlatformError, did_you_mean

_STATUS_KINDS: dict[int, FailureKind] = {
    HTTPStatus.UNAUTHORIZED: FailureKind.AUTH,
    HTTPStatus.FORBIDDEN: FailureKind.PERMISSION,
    HTTPStatus.NOT_FOUND: FailureKind.NOT_FOUND,
    HTTPStatus.TOO_MANY_REQUESTS: FailureKind.RATE_LIMITED,
}


def sheets_failure_kind(status: int | None) -> FailureKind:
    """The kind of a Sheets or Drive API call's final answer: 401 ``auth``, 403 ``permission``, 404
    ``not_found``, 429 ``rate_limited`` (still throttled after the retries), 5xx or no answer at all
    ``transient``, any other 4xx ``invalid_request`` (Google refused the request itself)."""
    if status is None or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
        return FailureKind.TRANSIENT
    return _STATUS_KINDS.get(status, FailureKind.INVALID_REQUEST)


class SheetsDestinationError(SyncPlatformError, RuntimeError):
    """Base of the Google Sheets destination's errors."""

    failure_kind: FailureKind = FailureKind.INTERNAL


class CredentialsError(ConfigError):
    """The service-account key or authorized-user token is malformed (``config``) or was rejected by
    Google (``auth``: pass ``failure_kind``)."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        connector: str | None = None,
        failure_kind: FailureKind = FailureKind.CONFIG,
    ) -> None:
        self.failure_kind = failure_kind
        super().__init__(message, field=field, connector=connector)


class SpreadsheetMissingError(ConfigError):
    """``write`` was called without a ``spreadsheet_id``: setup must create (or be given) one first."""

    def __init__(self) -> None:
        super().__init__(
            "The google_sheets destination has no `spreadsheet_id`, and writing never creates a "
            "spreadsheet (that would make a new one on every run). Run setup first: it creates the "
            "spreadsheet and reports its id in a `destination_config` control message. Or set "
            "`spreadsheet_id` to an existing spreadsheet shared with the service account as Editor.",
            field="spreadsheet_id",
            connector="google_sheets",
        )


class SpreadsheetNotFoundError(SheetsDestinationError, LookupError):
    failure_kind = FailureKind.NOT_FOUND

    def __init__(self, spreadsheet_id: str, identity: str) -> None:
        self.spreadsheet_id, self.identity = spreadsheet_id, identity
        super().__init__(
            f"Spreadsheet {spreadsheet_id!r} was not found (or is not visible to {identity}). Check "
            "`spreadsheet_id`: it is the long id between /d/ and /edit in the spreadsheet's URL. "
            "Remove `spreadsheet_id` and run setup to create a new spreadsheet instead."
        )


class SpreadsheetAccessError(SheetsDestinationError, PermissionError):
    failure_kind = FailureKind.PERMISSION

    def __init__(self, spreadsheet_id: str, identity: str, *, writing: bool = False) -> None:
        self.spreadsheet_id, self.identity = spreadsheet_id, identity
        need = "cannot write to" if writing else "has no access to"
        super().__init__(
            f"{identity} {need} spreadsheet {spreadsheet_id!r}. Share the spreadsheet with {identity} "
            "as Editor (Share button in Google Sheets), then run again."
        )


class CellLimitError(SheetsDestinationError, ValueError):
    """A flush would grow the spreadsheet past Google's cell cap; nothing of it was written.

    ``config``: retrying writes the same cells again, and the way out is a change to the pipeline
    (fewer streams or fields in this spreadsheet, or a spreadsheet of their own).
    """

    failure_kind = FailureKind.CONFIG

    def __init__(self, spreadsheet_id: str, cells_after: int, limit: int, streams: list[str]) -> None:
        self.spreadsheet_id, self.cells_after, self.limit, self.streams = (
            spreadsheet_id,
            cells_after,
            limit,
            streams,
        )
        super().__init__(
            f"Writing this batch of {', '.join(streams)} would grow spreadsheet {spreadsheet_id!r} to "
            f"{cells_after:,} cells, over Google Sheets' limit of {limit:,} cells per spreadsheet. "
            "Nothing from this batch was written and its checkpoints were not advanced. Next step: "
            "sync fewer streams or fields into this spreadsheet (`streams`, `fields`), or give large "
            "streams a pipeline with their own spreadsheet."
        )


class TabConflictError(SheetsDestinationError, ValueError):
    """A tab's layout on the sheet disagrees with what the destination needs; left untouched.

    ``config``: the spreadsheet the pipeline points at must be fixed (or another one chosen).
    """

    failure_kind = FailureKind.CONFIG


class TabNotFoundError(SheetsDestinationError, LookupError):
    """A stream has no tab (yet) in the spreadsheet."""

    failure_kind = FailureKind.NOT_FOUND

    def __init__(self, spreadsheet_id: str, stream: str, known: list[str]) -> None:
        self.spreadsheet_id, self.stream, self.known = spreadsheet_id, stream, known
        super().__init__(
            f"Stream {stream!r} has no tab in spreadsheet {spreadsheet_id!r}.{did_you_mean(stream, known)} "
            f"Synced streams there: {', '.join(known) or '(none)'}. Run setup to create the tabs of a "
            "pipeline's streams."
        )


class SheetsApiCallError(SheetsDestinationError):
    """A Sheets API call failed for good (a non-retryable error, or retries exhausted).

    ``kind`` names the call; ``failure_kind`` is given, or follows ``status`` (``sheets_failure_kind``).
    """

    def __init__(
        self, kind: str, status: int | None, message: str, *, failure_kind: FailureKind | None = None
    ) -> None:
        self.kind, self.status = kind, status
        self.failure_kind = failure_kind or sheets_failure_kind(status)
        super().__init__(message)


class FlushOutcomeUnknownError(SheetsDestinationError):
    """A flush failed in a way that leaves its outcome unknown and the sheet matches neither side.

    ``transient``: it follows a 5xx or a lost connection, and the next run reads the bookkeeping
    afresh; a sheet that really was edited out of shape then fails with ``TabConflictError``.
    """

    failure_kind = FailureKind.TRANSIENT
