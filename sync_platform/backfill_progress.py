"""A backfill checkpoint's progress as the UIs show it: ranges left, accounts not started, listed.

Dagster's checkpoint metadata and the console's stream rows both describe a stream's stored
checkpoint without knowing its source; a checkpoint shaped like the Stripe source's
(``{"accounted_range", "remaining": [...], "listed"}``, with Connect accounts ``"unread": [...]``
too, see ``docs/sources/stripe.md``) is read here once, so the two agree on what "complete" means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BackfillProgress:
    ranges_left: int
    accounts_not_started: int  # Connect accounts whose lane is not read yet (``unread``)
    listed: int | None

    @property
    def complete(self) -> bool:
        return not self.ranges_left and not self.accounts_not_started


def backfill_progress(state: Any) -> BackfillProgress | None:
    """The progress ``state`` records, or None when it is not a backfill checkpoint."""
    if not isinstance(state, dict) or not isinstance(state.get("remaining"), list):
        return None
    unread = state.get("unread")
    listed = state.get("listed")
    return BackfillProgress(
        ranges_left=len(state["remaining"]),
        accounts_not_started=len(unread) if isinstance(unread, list) else 0,
        listed=listed if isinstance(listed, int) and not isinstance(listed, bool) else None,
    )
