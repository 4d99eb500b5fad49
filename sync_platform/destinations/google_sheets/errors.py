"""What can go wrong writing to Google Sheets, each with the object involved and the next step."""

from __future__ import annotations

from sync_platform.errors import ConfigError, SyncPlatformError, did_you_mean


class SheetsDestinationError(SyncPlatformError, RuntimeError):
    """Base of the Google Sheets destination's errors."""


class CredentialsError(ConfigError):
    """The service-account key or authorized-user token is malformed or was rejected by Google."""


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
    def __init__(self, spreadsheet_id: str, identity: str) -> None:
        self.spreadsheet_id, self.identity = spreadsheet_id, identity
        super().__init__(
            f"Spreadsheet {spreadsheet_id!r} was not found (or is not visible to {identity}). Check "
            "`spreadsheet_id`: it is the long id between /d/ and /edit in the spreadsheet's URL. "
            "Remove `spreadsheet_id` and run setup to create a new spreadsheet instead."
        )


class SpreadsheetAccessError(SheetsDestinationError, PermissionError):
    def __init__(self, spreadsheet_id: str, identity: str, *, writing: bool = False) -> None:
        self.spreadsheet_id, self.identity = spreadsheet_id, identity
        need = "cannot write to" if writing else "has no access to"
        super().__init__(
            f"{identity} {need} spreadsheet {spreadsheet_id!r}. Share the spreadsheet with {identity} "
            "as Editor (Share button in Google Sheets), then run again."
        )


class CellLimitError(SheetsDestinationError, ValueError):
    """A flush would grow the spreadsheet past Google's cell cap; nothing of it was written."""

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
    """A tab's layout on the sheet disagrees with what the destination needs; left untouched."""


class TabNotFoundError(SheetsDestinationError, LookupError):
    """A stream has no tab (yet) in the spreadsheet."""

    def __init__(self, spreadsheet_id: str, stream: str, known: list[str]) -> None:
        self.spreadsheet_id, self.stream, self.known = spreadsheet_id, stream, known
        super().__init__(
            f"Stream {stream!r} has no tab in spreadsheet {spreadsheet_id!r}.{did_you_mean(stream, known)} "
            f"Synced streams there: {', '.join(known) or '(none)'}. Run setup to create the tabs of a "
            "pipeline's streams."
        )


class SheetsApiCallError(SheetsDestinationError):
    """A Sheets API call failed for good (a non-retryable error, or retries exhausted)."""

    def __init__(self, kind: str, status: int | None, message: str) -> None:
        self.kind, self.status = kind, status
        super().__init__(message)


class FlushOutcomeUnknownError(SheetsDestinationError):
    """A flush failed in a way that leaves its outcome unknown and the sheet matches neither side."""
