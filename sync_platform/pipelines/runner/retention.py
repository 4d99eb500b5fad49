"""How long the platform keeps what it no longer needs: applied webhook events and remembered deletes.

Both are pruned by the daily reconcile lane of each pipeline (``PipelineRunner``'s reconcile, launched
by the reconcile schedule or ``sync-platform sync <id> --lane reconcile``):

- **processed inbox rows** after ``inbox_days`` (default 7): they only serve to answer "was this
  event applied?" when looking into a problem; pending rows are never pruned, however old.
- **tombstones** (the destination's memory of deleted objects) after ``tombstone_days`` (default
  45): a tombstone exists so that a late, older version of a deleted object cannot bring it back.
  Stripe keeps events for 30 days and delivers or lists none older, so after 30 days no older version
  can arrive; 45 days leaves a margin for a pipeline that was paused or failing for two weeks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sync_platform.errors import ConfigError

INBOX_RETENTION_ENV = "SYNC_PLATFORM_INBOX_RETENTION_DAYS"
TOMBSTONE_RETENTION_ENV = "SYNC_PLATFORM_TOMBSTONE_RETENTION_DAYS"
STRIPE_EVENT_RETENTION_DAYS = 30


@dataclass(frozen=True)
class Retention:
    inbox_days: float = 7
    tombstone_days: float = 45

    @property
    def inbox(self) -> timedelta:
        return timedelta(days=self.inbox_days)

    @property
    def tombstones(self) -> timedelta:
        return timedelta(days=self.tombstone_days)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Retention:
        """The defaults, overridden by ``SYNC_PLATFORM_INBOX_RETENTION_DAYS`` and
        ``SYNC_PLATFORM_TOMBSTONE_RETENTION_DAYS``; a tombstone horizon within Stripe's event
        retention is refused (a late older version could still arrive and resurrect a row)."""
        inbox = _days(environ, INBOX_RETENTION_ENV, cls.inbox_days)
        tombstones = _days(environ, TOMBSTONE_RETENTION_ENV, cls.tombstone_days)
        if tombstones <= STRIPE_EVENT_RETENTION_DAYS:
            stripe_days = STRIPE_EVENT_RETENTION_DAYS
            raise ConfigError(
                f"{TOMBSTONE_RETENTION_ENV}={tombstones:g} is within Stripe's {stripe_days}-day event "
                "retention: a late, older version of a deleted object could still arrive and bring it "
                f"back. Use more than {stripe_days} days.",
                field=TOMBSTONE_RETENTION_ENV,
            )
        return cls(inbox_days=inbox, tombstone_days=tombstones)


def _days(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        days = float(raw)
    except ValueError:
        days = -1.0
    if days <= 0:
        raise ConfigError(f"{name} must be a positive number of days, not {raw!r}.", field=name)
    return days
