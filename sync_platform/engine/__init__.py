"""The sync engine: plain Python (no Dagster), async inside, with a blocking facade.

``Engine`` runs the operations; ``operators`` and ``reducers`` are the pieces a sync is built from;
``connectors`` holds the Source/Destination contracts and ``registry`` finds them by name.
"""

from sync_platform.engine import blocking
from sync_platform.engine.catalog import (
    apply_selection,
    build_catalog,
    exclude_terminal_streams,
    with_time_ranges,
)
from sync_platform.engine.clock import Clock, FakeClock, SystemClock
from sync_platform.engine.config import validate_config
from sync_platform.engine.connectors import Config, Destination, NoSetup, Source
from sync_platform.engine.errors import (
    ConnectorOutputError,
    EngineError,
    UnknownConnectorError,
    UnknownStreamError,
)
from sync_platform.engine.operations import (
    DEFAULT_STATE_LIMIT,
    Engine,
    default_soft_time_limit,
)
from sync_platform.engine.operators import (
    Operator,
    enforce_catalog,
    pipe,
    tag,
    take_through_states,
    take_until,
)
from sync_platform.engine.reducers import (
    Initialize,
    RecordsSeen,
    derive,
    initial_progress,
    is_progress_trigger,
    reduce_progress,
    reduce_state,
)
from sync_platform.engine.registry import ConnectorRegistry, default_registry
from sync_platform.engine.resolve import ResolvedPipeline, resolve_pipeline

__all__ = [
    "DEFAULT_STATE_LIMIT",
    "Clock",
    "Config",
    "ConnectorOutputError",
    "ConnectorRegistry",
    "Destination",
    "Engine",
    "EngineError",
    "FakeClock",
    "Initialize",
    "NoSetup",
    "Operator",
    "RecordsSeen",
    "ResolvedPipeline",
    "Source",
    "SystemClock",
    "UnknownConnectorError",
    "UnknownStreamError",
    "apply_selection",
    "blocking",
    "build_catalog",
    "default_registry",
    "default_soft_time_limit",
    "derive",
    "enforce_catalog",
    "exclude_terminal_streams",
    "initial_progress",
    "is_progress_trigger",
    "pipe",
    "reduce_progress",
    "reduce_state",
    "resolve_pipeline",
    "tag",
    "take_through_states",
    "take_until",
    "validate_config",
    "with_time_ranges",
]
