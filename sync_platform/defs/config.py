"""Run config of the sync assets: operator overrides, never pipeline settings (those live in the
app database, keyed by partition)."""

from __future__ import annotations

import dagster as dg
from pydantic import Field


class SyncConfig(dg.Config):
    """Launch options for one run of a stream family's sync."""

    reset_state: bool = Field(
        default=False,
        description=(
            "Forget the backfill checkpoint of the selected streams (of every stream when none is "
            "selected) and re-read them; the CLI's --reset-state and the API's reset_state."
        ),
    )
    state_limit: int = Field(
        default=100,
        ge=1,
        description="Checkpoints per batch; each batch ends on a committed checkpoint shown in run metadata.",
    )
    time_limit: float | None = Field(
        default=None,
        gt=0,
        description="Seconds this run may spend; it stops after the batch that crosses it (resume later).",
    )
