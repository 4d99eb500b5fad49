"""Every Sheets API call the destination makes: off the event loop, paced, retried, counted.

gspread is blocking, so calls run in a worker thread (``asyncio.to_thread``) and the event loop (and
a source reading Stripe concurrently) keeps going. Writes are paced so that this process never has
more than the quota's worth of requests completed within any window: counting *completions* means
the server, which sees each request after we sent it, can never count more than we did, so our own
traffic is never throttled. 429s from traffic we cannot see (other users of the same quota) are
retried with exponential backoff and jitter. A 5xx or a lost connection leaves the outcome of a
write unknown; the caller's ``settle`` callback looks at the sheet and says whether it was applied,
because replaying an applied row deletion would delete the wrong rows.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import google.auth.exceptions
import gspread
from gspread.http_client import HTTPClient
from gspread.urls import SPREADSHEET_BATCH_UPDATE_URL

from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.connection import (
    NETWORK_ERRORS,
    api_error_message,
    api_error_status,
    credentials_rejected,
)
from sync_platform.destinations.google_sheets.errors import (
    SheetsApiCallError,
    SpreadsheetAccessError,
    SpreadsheetNotFoundError,
    sheets_failure_kind,
)
from sync_platform.destinations.google_sheets.sheet_requests import batch_update_body, encode_request
from sync_platform.engine import Clock

logger = logging.getLogger(__name__)
T = TypeVar("T")
Settle = Callable[[], Awaitable[bool]]
"""After an ambiguous failure: True if the write was applied, False if it was not."""


class WritePacer:
    """At most ``limit`` write requests completed in any ``window`` seconds (a sliding window)."""

    def __init__(self, limit: int, window: float, clock: Clock) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._completed: deque[float] = deque()
        self.waited_seconds = 0.0

    async def wait_for_slot(self) -> None:
        while True:
            now = self.clock.monotonic()
            while self._completed and self._completed[0] <= now - self.window:
                self._completed.popleft()
            if len(self._completed) < self.limit:
                return
            delay = self._completed[0] + self.window - now
            self.waited_seconds += delay
            await self.clock.sleep(delay)

    def completed(self) -> None:
        self._completed.append(self.clock.monotonic())


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    initial_seconds: float
    max_seconds: float

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Wait before retry ``attempt`` (0-based): Retry-After if sent, else capped doubling, jittered."""
        if retry_after is not None:
            return min(retry_after, self.max_seconds)
        ceiling = min(self.max_seconds, self.initial_seconds * 2.0**attempt)
        return ceiling * random.uniform(0.5, 1.0)


def _retry_after(error: gspread.exceptions.APIError) -> float | None:
    value = error.response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class SheetsApi:
    """One spreadsheet's API surface for a write: batchUpdate, batchGet and metadata."""

    def __init__(
        self, http: HTTPClient, spreadsheet_id: str, config: GoogleSheetsDestinationConfig, clock: Clock
    ) -> None:
        self.http = http
        self.spreadsheet_id = spreadsheet_id
        self.config = config
        self.clock = clock
        self.pacer = WritePacer(config.write_requests_per_window, config.quota_window_seconds, clock)
        self.policy = RetryPolicy(config.max_retries, config.retry_initial_seconds, config.retry_max_seconds)
        self.requests: Counter[str] = Counter()
        self.retries = 0

    async def batch_update(
        self, requests: Sequence[str | dict[str, Any]], *, settle: Settle | None = None
    ) -> None:
        """Apply ``requests`` (JSON text, or dicts to encode) atomically, in one HTTP request.

        The body is sent pre-encoded through gspread's ``HTTPClient.request``: flush requests
        arrive as JSON text already, and re-encoding megabytes of rows would only cost time.
        """
        body = batch_update_body([r if isinstance(r, str) else encode_request(r) for r in requests])
        url = SPREADSHEET_BATCH_UPDATE_URL % self.spreadsheet_id
        await self._call(
            "spreadsheets.batchUpdate",
            lambda: self.http.request("post", url, data=body, headers={"Content-Type": "application/json"}),
            write=True,
            settle=settle,
        )

    async def values(self, ranges: list[str]) -> list[list[list[Any]]]:
        """Unformatted values of each A1 range, in one request."""
        if not ranges:
            return []
        response = await self._call(
            "values.batchGet",
            lambda: self.http.values_batch_get(
                self.spreadsheet_id, ranges, params={"valueRenderOption": "UNFORMATTED_VALUE"}
            ),
            write=False,
        )
        return [list(value_range.get("values", [])) for value_range in response.get("valueRanges", [])]

    async def metadata(self) -> dict[str, Any]:
        """Sheet properties of every tab (titles, ids, grid sizes), without cell data."""
        return await self._call(
            "spreadsheets.get", lambda: dict(self.http.fetch_sheet_metadata(self.spreadsheet_id)), write=False
        )

    async def _call(
        self, kind: str, call: Callable[[], T], *, write: bool, settle: Settle | None = None
    ) -> T:
        attempt = 0
        last_status: int | None = None  # of the last failed attempt; None: no answer
        while True:
            if write:
                await self.pacer.wait_for_slot()
            self.requests[kind] += 1
            try:
                return await asyncio.to_thread(call)
            except gspread.exceptions.APIError as error:
                status = api_error_status(error)
                if status == HTTPStatus.TOO_MANY_REQUESTS:
                    reason, retry_after = "throttled", _retry_after(error)
                elif status >= HTTPStatus.INTERNAL_SERVER_ERROR:
                    reason, retry_after = f"server error {status}", _retry_after(error)
                    if write and settle is not None and await settle():
                        return None  # type: ignore[return-value]  # writes return nothing callers read
                else:
                    raise self._fatal(kind, status, error) from None
                last, last_status = f"{status}: {api_error_message(error)}", status
            except NETWORK_ERRORS as error:
                reason, retry_after, last, last_status = "connection lost", None, type(error).__name__, None
                if write and settle is not None and await settle():
                    return None  # type: ignore[return-value]  # writes return nothing callers read
            except google.auth.exceptions.RefreshError as error:
                raise credentials_rejected(self.config, error) from None
            finally:
                if write:
                    self.pacer.completed()
            if attempt >= self.policy.max_retries:
                raise SheetsApiCallError(
                    kind,
                    None,
                    f"{kind} on spreadsheet {self.spreadsheet_id!r} still failed after "
                    f"{attempt + 1} attempts (last: {last}). Google may be degraded, or something else "
                    "uses the same quota; retry the run later.",
                    failure_kind=sheets_failure_kind(last_status),  # rate_limited after 429s, else transient
                )
            delay = self.policy.delay(attempt, retry_after)
            logger.warning(
                "Sheets %s %s; retrying in %.2fs",
                kind,
                reason,
                delay,
                extra={"kind": kind, "attempt": attempt + 1, "reason": reason},
            )
            self.retries += 1
            attempt += 1
            await self.clock.sleep(delay)

    def _fatal(self, kind: str, status: int, error: gspread.exceptions.APIError) -> Exception:
        identity = self.config.identity
        if status == HTTPStatus.NOT_FOUND and kind == "spreadsheets.get":
            return SpreadsheetNotFoundError(self.spreadsheet_id, identity)
        if status == HTTPStatus.FORBIDDEN:
            return SpreadsheetAccessError(self.spreadsheet_id, identity, writing=kind.endswith("batchUpdate"))
        return SheetsApiCallError(
            kind,
            status,
            f"Google Sheets rejected {kind} on spreadsheet {self.spreadsheet_id!r}: "
            f"{api_error_message(error)}",
        )
