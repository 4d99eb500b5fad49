"""The closed sets of a pipeline's lifecycle (intent, platform status, display status) and its error.

Two stored fields describe a pipeline, and they have different writers: ``desired_status`` is the
user's intent (CLI, API) and ``status`` is what the platform is doing (Dagster sensors and jobs).
Keeping them apart means a pause is recorded the moment the user asks, while the platform reports
``paused`` only once its runs have actually stopped; ``DisplayStatus`` is derived from the two.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from sync_platform.errors import FailureKind
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
    TEARDOWN_FAILED = "teardown_failed"
    DELETED = "deleted"
    ERROR = "error"


MAX_ERROR_MESSAGE = 2000


MAX_CONSECUTIVE_FAILURES = 5
"""Failures in a row of a kind that retrying may fix, after which the pipeline is parked anyway."""

FIRST_RETRY_DELAY = timedelta(seconds=30)
MAX_RETRY_DELAY = timedelta(minutes=30)


def retry_delay(attempts: int) -> timedelta:
    """How long the platform waits before retrying after ``attempts`` consecutive failures."""
    return min(FIRST_RETRY_DELAY * 2 ** max(0, attempts - 1), MAX_RETRY_DELAY)


class PipelineError(BaseModel):
    """The last failure of a pipeline: its kind, the root cause (redacted), where and when.

    ``kind`` decides what happens next (``FailureKind.parks``): auth, permission, config, invalid
    request and not-found failures park the pipeline until the user resumes or edits it, because
    retrying a revoked key only burns rate limit; the others are retried with a growing delay
    (``retry_at``) and park after ``MAX_CONSECUTIVE_FAILURES`` in a row (``attempts``).

    The message is redacted on the way in, so a key quoted by a connector's exception text never
    reaches the store, the CLI or a log line.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    kind: FailureKind = Field(validation_alias=AliasChoices("kind", "failure_type"))
    message: str = Field(min_length=1)
    stream: str | None = None
    lane: str | None = None
    run: str | None = None  # which run failed: a Dagster run id, or the CLI command that ran it
    attempts: int = Field(default=1, ge=1)
    occurred_at: datetime

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, kind: object) -> object:
        """Rows written before failure kinds existed said ``system``: an unexpected failure."""
        return FailureKind.INTERNAL if kind == "system" else kind

    @field_validator("message")
    @classmethod
    def _redact_message(cls, message: str) -> str:
        """Redact, then cut to a size a status line can show (a long traceback must not be rejected)."""
        message = redact(message)
        return message if len(message) <= MAX_ERROR_MESSAGE else message[: MAX_ERROR_MESSAGE - 1] + "…"

    @property
    def parked(self) -> bool:
        """Whether the platform waits for the user instead of retrying."""
        return self.kind.parks or self.attempts >= MAX_CONSECUTIVE_FAILURES

    @property
    def retry_at(self) -> datetime | None:
        """When the platform may retry on its own; None once parked."""
        return None if self.parked else self.occurred_at + retry_delay(self.attempts)

    def summary(self) -> str:
        """``[auth] Stripe GET /v1/customers failed (HTTP 401) … (parked: resume or edit)``."""
        if self.kind.parks:
            what_next = "parked until you resume or edit the pipeline"
        elif self.parked:
            what_next = f"parked after {self.attempts} failures in a row; resume the pipeline to try again"
        else:
            when = self.retry_at.strftime("%H:%M:%S UTC") if self.retry_at else "soon"
            what_next = f"failure {self.attempts} of {MAX_CONSECUTIVE_FAILURES}, retried after {when}"
        return f"[{self.kind.value}] {self.message} ({what_next})"
