"""Per-user request quotas (sliding windows), scripted failures, and request counters.

Google limits each user to 60 write and 60 read requests per minute and answers the excess with a
429 ``RESOURCE_EXHAUSTED`` whose details name the limit; the emulator does the same with limits a
test or benchmark chooses (60 per *second* for the benchmark: the ratio is what matters). Scripted
failures answer the next N matching requests with a chosen status, optionally *after* applying the
request, which is how a lost response looks to a client.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from sync_platform.sheets_emulator.errors import SheetsApiError


class RequestClass(StrEnum):
    READ = "read"
    WRITE = "write"
    DRIVE = "drive"
    TOKEN = "token"


WRITE_KINDS = frozenset(
    {
        "spreadsheets.create",
        "spreadsheets.batchUpdate",
        "values.update",
        "values.append",
        "values.batchUpdate",
        "values.clear",
        "values.batchClear",
    }
)
READ_KINDS = frozenset({"spreadsheets.get", "values.get", "values.batchGet"})


def request_class(kind: str) -> RequestClass:
    if kind in WRITE_KINDS:
        return RequestClass.WRITE
    if kind in READ_KINDS:
        return RequestClass.READ
    return RequestClass.TOKEN if kind == "token" else RequestClass.DRIVE


@dataclass(frozen=True)
class QuotaLimit:
    """At most ``requests`` accepted requests in any ``window_seconds`` window, per user."""

    requests: int
    window_seconds: float = 60.0


_LIMIT_NAMES = {
    RequestClass.WRITE: ("Write requests", "WriteRequestsPerMinutePerUser", "write_requests"),
    RequestClass.READ: ("Read requests", "ReadRequestsPerMinutePerUser", "read_requests"),
}


def quota_exceeded(limit: QuotaLimit, cls: RequestClass) -> SheetsApiError:
    metric, limit_name, metric_id = _LIMIT_NAMES[cls]
    return SheetsApiError(
        429,
        f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of service "
        "'sheets.googleapis.com' for consumer 'project_number:0'.",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "quota_metric": f"sheets.googleapis.com/{metric_id}",
                    "quota_limit": limit_name,
                    "quota_limit_value": str(limit.requests),
                    "service": "sheets.googleapis.com",
                    "consumer": "projects/0",
                },
            }
        ],
    )


@dataclass
class ScriptedFailure:
    remaining: int
    status: int
    kinds: frozenset[str]
    after_apply: bool
    skip: int = 0  # matching requests to let through before failing


@dataclass
class RequestLog:
    """Counters tests and benchmarks read: accepted requests by kind, rejections by kind and status."""

    accepted: Counter[str] = field(default_factory=Counter)
    rejected: Counter[tuple[str, int]] = field(default_factory=Counter)
    cells_written: int = 0


class Quotas:
    """Admission control for one emulator: quota windows plus the scripted-failure queue."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.monotonic = monotonic
        self.limits: dict[RequestClass, QuotaLimit] = {}
        self._accepted_at: dict[tuple[str, RequestClass], deque[float]] = {}
        self._failures: list[ScriptedFailure] = []

    def set_limit(self, cls: RequestClass, limit: QuotaLimit | None) -> None:
        if limit is None:
            self.limits.pop(cls, None)
        else:
            self.limits[cls] = limit

    def script(self, failure: ScriptedFailure) -> None:
        self._failures.append(failure)

    def pending_failures(self) -> int:
        return sum(failure.remaining for failure in self._failures)

    def reset(self) -> None:
        self.limits.clear()
        self._accepted_at.clear()
        self._failures.clear()

    def admit(self, identity: str, kind: str) -> None:
        """Raise the 429 Google would send if ``identity`` is over its quota for ``kind``."""
        cls = request_class(kind)
        limit = self.limits.get(cls)
        if limit is None:
            return
        now = self.monotonic()
        accepted = self._accepted_at.setdefault((identity, cls), deque())
        while accepted and accepted[0] <= now - limit.window_seconds:
            accepted.popleft()
        if len(accepted) >= limit.requests:
            raise quota_exceeded(limit, cls)
        accepted.append(now)

    def take_failure(self, kind: str) -> ScriptedFailure | None:
        """The scripted failure that applies to this request, if any (consumes one of its count)."""
        for failure in self._failures:
            if kind in failure.kinds and failure.skip > 0:
                failure.skip -= 1
                return None
            if kind in failure.kinds and failure.remaining > 0:
                failure.remaining -= 1
                if failure.remaining == 0:
                    self._failures.remove(failure)
                return failure
        return None
