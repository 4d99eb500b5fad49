"""Google-shaped API errors: what the emulator raises inside a handler and how it renders them.

Real Google APIs answer every failure with ``{"error": {"code", "message", "status", ...}}``; gspread
parses that body into ``APIError.code``/``.error``, so clients see the emulator's failures exactly as
they would see Google's.
"""

from __future__ import annotations

from typing import Any

from sync_platform.errors import SyncPlatformError

_STATUS_BY_CODE = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class SheetsApiError(SyncPlatformError, RuntimeError):
    """One failed API call: an HTTP status plus Google's error body."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.code = code
        self.status = status or _STATUS_BY_CODE.get(code, "UNKNOWN")
        self.details = details or []
        super().__init__(message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": str(self), "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_request(index: int, kind: str, message: str) -> SheetsApiError:
    """A 400 that names the offending request the way the Sheets API does (``requests[3].addSheet``)."""
    return SheetsApiError(400, f"Invalid requests[{index}].{kind}: {message}")


def not_found() -> SheetsApiError:
    return SheetsApiError(404, "Requested entity was not found.")
