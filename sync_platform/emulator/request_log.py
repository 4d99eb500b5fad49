"""Every ``/v1`` request the emulator answered, so tests and benchmarks can check what a client sent.

A client's claims about itself (its rate limit, the parameters of its first request) are checked
against what the server saw: the log keeps, per request, when it arrived on the emulator's clock,
its method, path and query, the ``Stripe-Account`` it named and the status it got.
"""

from __future__ import annotations

import bisect
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any

from sync_platform.emulator.params import decode_params


@dataclass(frozen=True)
class LoggedRequest:
    at: float  # the emulator clock's monotonic seconds when the request arrived
    method: str
    path: str
    query: str
    account: str | None
    status: int

    @property
    def params(self) -> dict[str, Any]:
        """The query decoded as the API reads it (``{"created": {"gte": "1"}, "limit": "100"}``)."""
        return decode_params(urllib.parse.parse_qsl(self.query, keep_blank_values=True))

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "account": self.account,
            "status": self.status,
        }


class RequestLog:
    """An append-only, thread-safe list of answered requests, and a count of those still being answered.

    The count lets a test wait for "my request has reached the server" as an event (a request held by
    injected latency is in flight) instead of sleeping and hoping it got there.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._entries: list[LoggedRequest] = []
        self._in_flight = 0

    def begin(self) -> None:
        """A request arrived and is being answered."""
        with self._changed:
            self._in_flight += 1
            self._changed.notify_all()

    def finish(self, entry: LoggedRequest | None) -> None:
        """A request begun earlier ended: answered (``entry``), or dropped by its client (``None``)."""
        with self._changed:
            self._in_flight -= 1
            if entry is not None:
                self._entries.append(entry)
            self._changed.notify_all()

    @property
    def in_flight(self) -> int:
        with self._changed:
            return self._in_flight

    def wait_in_flight(self, count: int = 1, timeout: float = 30.0) -> bool:
        """Block until at least ``count`` requests are being answered at once; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight >= count, timeout)

    def wait_answered(self, count: int, timeout: float = 30.0) -> bool:
        """Block until at least ``count`` requests have been answered in all; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._entries) >= count, timeout)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until no request is being answered (a killed client's requests still finish here)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._in_flight == 0, timeout)

    def entries(self) -> list[LoggedRequest]:
        with self._changed:
            return list(self._entries)

    def clear(self) -> None:
        with self._changed:
            self._entries = []


def max_in_window(arrivals: list[float], seconds: float = 1.0) -> int:
    """The most requests that arrived within any ``seconds``-long window (half-open)."""
    times = sorted(arrivals)
    return max((bisect.bisect_left(times, start + seconds) - i for i, start in enumerate(times)), default=0)
