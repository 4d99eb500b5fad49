"""The closed sets of a pipeline's lifecycle (intent, platform status, display status) and its error.

Two stored fields describe a pipeline, and they have different writers: ``desired_status`` is the
user's intent (CLI, API) and ``status`` is what the platform is doing (Dagster sensors and jobs).
Keeping them apart means a pause is recorded the moment the user asks, while the platform reports
``paused`` only once its runs have actually stopped; ``DisplayStatus`` is derived from the two.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sync_platform.redaction import redact


class DesiredStatus(StrEnum):
    """What the user wants. ``deleted`` is terminal: a deleted pipeline is torn down, never revived."""

    ACTIVE = "active"
    PAUSED = "paused"
    DELETED = "deleted"


class PipelineStatus(StrEnum):
    """What the platform is doing for the pipeline; written only by the platform."""

    SETUP = "setup"
    BACKFILL = "backfill"
    READY = "ready"
    PAUSED = "paused"
    TEARDOWN = "teardown"
    ERROR = "error"


WORKING_STATUSES: frozenset[PipelineStatus] = frozenset(
    {PipelineStatus.SETUP, PipelineStatus.BACKFILL, PipelineStatus.READY}
)
"""The statuses a paused or failed pipeline returns to; remembered in ``resume_status``."""


class DisplayStatus(StrEnum):
    """The one word a user sees, derived from ``desired_status`` and ``status`` (never stored)."""

    SETTING_UP = "setting_up"
    BACKFILLING = "backfilling"
    READY = "ready"
    PAUSING = "pausing"
    PAUSED = "paused"
    RESUMING = "resuming"
    TEARING_DOWN = "tearing_down"
    DELETED = "deleted"
    ERROR = "error"


class FailureType(StrEnum):
    """Why the platform stopped: decides whether it retries on its own or waits for the user.

    ``transient`` (rate limits, 5xx, network) keeps the pipeline's lanes running so the next run is
    the retry; ``auth``, ``config`` and ``system`` park the pipeline until the user resumes it or
    changes its config, because retrying a revoked key only burns rate limit.
    """

    TRANSIENT = "transient"
    AUTH = "auth"
    CONFIG = "config"
    SYSTEM = "system"

    @property
    def retried_automatically(self) -> bool:
        return self is FailureType.TRANSIENT


MAX_ERROR_MESSAGE = 2000


class PipelineError(BaseModel):
    """The last failure of a pipeline: its type, a redacted message, the stream (if any) and when.

    The message is redacted on the way in, so a key quoted by a connector's exception text never
    reaches the store, the CLI or a log line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    failure_type: FailureType
    message: str = Field(min_length=1)
    stream: str | None = None
    occurred_at: datetime

    @field_validator("message")
    @classmethod
    def _redact_message(cls, message: str) -> str:
        """Redact, then cut to a size a status line can show (a long traceback must not be rejected)."""
        message = redact(message)
        return message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"
