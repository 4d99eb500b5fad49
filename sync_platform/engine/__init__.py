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
from sync_platform.engine.connectors import (
    SECRET_PLACEHOLDER,
    CatalogOffline,
    Config,
    Destination,
    NoSetup,
    Source,
    ValidatesConfigOffline,
    offline_catalog,
    validate_config_offline,
)
from sync_platform.engine.errors import (
    ConnectorOutputError,
    EngineError,
    UnknownConnectorError,
    UnknownStreamError,
)
from sync_platform.engine.operations import DEFAULT_STATE_LIMIT, Engine
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
from sync_platform.engine.sync_loop import default_soft_time_limit

__all__ = [
    "DEFAULT_STATE_LIMIT",
    "SECRET_PLACEHOLDER",
    "CatalogOffline",
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
    "ValidatesConfigOffline",
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
    "offline_catalog",
    "pipe",
    "reduce_progress",
    "reduce_state",
    "resolve_pipeline",
    "tag",
    "take_through_states",
    "take_until",
    "validate_config",
    "validate_config_offline",
    "with_time_ranges",
]
