"""Errors raised when bytes or objects do not form valid protocol messages."""

from __future__ import annotations

from sync_platform.errors import SyncPlatformError


class ProtocolError(SyncPlatformError, ValueError):
    """A message, catalog or state does not match the protocol; ``line`` is set for NDJSON input."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        self.line = line
        super().__init__(f"line {line}: {message}" if line is not None else message)
