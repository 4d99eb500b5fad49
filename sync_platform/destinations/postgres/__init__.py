"""The PostgreSQL destination: a table per stream, typed columns plus the raw JSON, newer-wins upserts.

``PostgresDestination`` is what the engine's registry loads; ``row_count``, ``table_columns`` and
``describe_columns`` answer the questions Dagster asks about the tables. See
docs/destinations/postgres.md for the table layout and the upsert and delete rules.
"""

from sync_platform.destinations.postgres.config import PostgresDestinationConfig, parse_config
from sync_platform.destinations.postgres.destination import PostgresDestination
from sync_platform.destinations.postgres.errors import (
    PostgresDestinationError,
    ProtectedSchemaError,
    RecordContractError,
    StreamLayoutError,
    TableNotFoundError,
)
from sync_platform.destinations.postgres.layout import (
    ColumnDescription,
    StreamLayout,
    describe_columns,
    stream_layout,
)
from sync_platform.destinations.postgres.naming import table_name
from sync_platform.destinations.postgres.queries import row_count, table_columns
from sync_platform.destinations.postgres.upsert import FlushStats

__all__ = [
    "ColumnDescription",
    "FlushStats",
    "PostgresDestination",
    "PostgresDestinationConfig",
    "PostgresDestinationError",
    "ProtectedSchemaError",
    "RecordContractError",
    "StreamLayout",
    "StreamLayoutError",
    "TableNotFoundError",
    "describe_columns",
    "parse_config",
    "row_count",
    "stream_layout",
    "table_columns",
    "table_name",
]
