"""Asks a destination how many rows a stream holds, for ``dagster/row_count`` and the row checks.

Each destination package exposes ``row_count(config, stream) -> int``; this module only picks the
right one by connector name, so Dagster code never reaches into a destination's internals.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any, cast

from sync_platform.protocol import ConnectorConfig

logger = logging.getLogger(__name__)

ROW_COUNTERS = {
    "postgres": "sync_platform.destinations.postgres:row_count",
    "google_sheets": "sync_platform.destinations.google_sheets:row_count",
}


def destination_row_count(destination: ConnectorConfig, stream: str) -> int | None:
    """Rows of ``stream`` in the destination, or None when the destination cannot tell (logged)."""
    path = ROW_COUNTERS.get(destination.type)
    if path is None:
        return None
    module_name, _, name = path.partition(":")
    counter = cast(Callable[[dict[str, Any], str], int], getattr(importlib.import_module(module_name), name))
    try:
        return counter(destination.config, stream)
    except Exception as error:  # a count is metadata; failing to read it must not fail the run
        logger.warning(
            "could not count rows of %s in the %s destination: %s", stream, destination.type, error
        )
        return None
