"""Remembered deletes, and how long a destination keeps them.

A destination remembers each applied tombstone (the object's key and the tombstone's time) so that a
late, older version of a deleted object cannot bring it back (``versions.decide``). That memory
only has to outlast the time an older version can still arrive: Stripe keeps events, and delivers
or lists them, for 30 days, so after that no older version of anything can come. The pipeline
runner prunes tombstones past a horizon longer than that (``pipelines/runner/retention.py``: 45
days by default, refusing anything within Stripe's 30) through the optional hook below.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class PrunesTombstones(Protocol):
    """The optional destination hook: forget tombstones older than a horizon."""

    def prune_tombstones(self, config: dict[str, Any], older_than: datetime) -> int:
        """Forget every tombstone whose time is before ``older_than``; return how many.

        Blocking (the runner calls it between runs); called only while no write runs for the
        pipeline (the runner holds the pipeline's run lock). A tombstone of exactly ``older_than`` is
        kept.
        """
        ...


def prune_tombstones(destination: object, config: dict[str, Any], older_than: datetime) -> int | None:
    """The destination's tombstones older than ``older_than`` pruned; None when it keeps none."""
    if isinstance(destination, PrunesTombstones):
        return destination.prune_tombstones(config, older_than)
    return None
