"""Time helpers for the wire: UTC everywhere, ISO-8601 with ``Z``, Stripe's unix seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, the form states and time ranges use on the wire."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def from_unix(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def to_unix(value: datetime) -> int:
    """Whole unix seconds, as Stripe's ``created`` filters take them."""
    return int(value.timestamp())
