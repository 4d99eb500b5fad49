"""A pipeline's per-account status (Stripe Connect), as every surface shows it.

The CLI (``pipelines get``), the API's pipeline detail and Dagster's materializations all call
this, and this only asks the pipeline's source (``source_lanes.account_status``) to read its own
checkpoints: the state's shape stays the source's business, and one behaviour has one place. No
config or secret is needed (the status is in the checkpoints), so a CLI talking to a remote API
computes the same answer from the masked pipeline it received.
"""

from __future__ import annotations

import functools
from typing import Any

from sync_platform.engine import source_lanes
from sync_platform.engine.errors import UnknownConnectorError
from sync_platform.engine.registry import ConnectorRegistry, default_registry
from sync_platform.pipelines.model import Pipeline


@functools.cache
def _registry() -> ConnectorRegistry:
    return default_registry()


def _source_part(checkpoint: Any) -> Any:
    return checkpoint.get("source") if isinstance(checkpoint, dict) else None


def account_status(pipeline: Pipeline, registry: ConnectorRegistry | None = None) -> dict[str, Any] | None:
    """``{total, healthy, counts, accounts}`` for a multi-account pipeline; None otherwise (or
    when its source is not installed here)."""
    try:
        source = (registry or _registry()).source(pipeline.source.type)
    except UnknownConnectorError:
        return None
    return source_lanes.account_status(
        source, _source_part(pipeline.sync_state), _source_part(pipeline.live_state)
    )


def account_counts(status: dict[str, Any] | None) -> dict[str, int]:
    """Counts only (never one entry per account): what Dagster metadata carries."""
    if status is None:
        return {}
    counts = {f"accounts_{name}": int(n) for name, n in status["counts"].items()}
    return {"accounts_total": int(status["total"]), "accounts_healthy": int(status["healthy"]), **counts}
