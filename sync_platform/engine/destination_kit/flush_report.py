"""What one committed flush did with one stream's records, as typed data every reader shares.

A destination tells its caller how a flush went (so many inserted, updated, deleted, skipped as
stale) in a ``log`` message, since the protocol has no message kind for it; the figures travel in
the log's ``data`` under ``"flush"``, written and read only through ``FlushReport``, so Dagster's
materializations, the CLI and a third-party destination agree on the shape without anyone guessing
from the keys a dict happens to have. ``inserted + updated + deleted + skipped_stale`` is what the
flush applied or refused; ``records`` (when the destination counts it) is what it received.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, NonNegativeInt, ValidationError

from sync_platform.protocol import LogLevel, LogMessage, log

FLUSH_KEY = "flush"
COUNTS = ("inserted", "updated", "deleted", "skipped_stale")


class FlushReport(BaseModel):
    """One committed flush of one stream."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    stream: str
    inserted: NonNegativeInt = 0
    updated: NonNegativeInt = 0
    deleted: NonNegativeInt = 0
    skipped_stale: NonNegativeInt = 0
    records: NonNegativeInt | None = None
    duration_ms: float | None = None
    where: str | None = None
    """The table or tab written (for people reading the log)."""

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}

    def to_log(self, message: str, level: LogLevel = LogLevel.DEBUG) -> LogMessage:
        """The log message carrying this report (``data["flush"]``) beside the human line."""
        return log(level, message, {FLUSH_KEY: self.model_dump(exclude_none=True)})

    @classmethod
    def from_log(cls, message: LogMessage) -> FlushReport | None:
        """The report a log message carries, or None for any other log."""
        data: Any = (message.log.data or {}).get(FLUSH_KEY)
        if not isinstance(data, dict):
            return None
        try:
            return cls.model_validate(data)
        except ValidationError:
            return None
