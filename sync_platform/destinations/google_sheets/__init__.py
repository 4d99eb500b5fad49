"""Google Sheets destination: a tab per stream, upserts by row key, deletes that compact the tab.

Built on ``gspread``. Writes are buffered and flushed as single atomic ``batchUpdate`` requests,
paced to the per-user write quota and retried on 429/5xx; states are re-emitted only after the flush
that covers them. Text is stored as text (never as a formula), cells longer than 50,000 characters
are truncated with a marker, and the 10,000,000-cell cap is checked before anything is written.
``row_count`` and ``stream_columns`` answer what a Dagster asset reports about a tab; ``tab_rows``
reads a tab back as records.
"""

from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig, load_config
from sync_platform.destinations.google_sheets.destination import GoogleSheetsDestination
from sync_platform.destinations.google_sheets.errors import (
    CellLimitError,
    CredentialsError,
    FlushOutcomeUnknownError,
    SheetsApiCallError,
    SheetsDestinationError,
    SpreadsheetAccessError,
    SpreadsheetMissingError,
    SpreadsheetNotFoundError,
    TabConflictError,
    TabNotFoundError,
)
from sync_platform.destinations.google_sheets.inspection import (
    TabSummary,
    describe_tabs,
    row_count,
    stream_columns,
    tab_rows,
)
from sync_platform.destinations.google_sheets.layout import INDEX_TAB_PREFIX, index_title
from sync_platform.destinations.google_sheets.plan import CELL_LIMIT

__all__ = [
    "CELL_LIMIT",
    "INDEX_TAB_PREFIX",
    "CellLimitError",
    "CredentialsError",
    "FlushOutcomeUnknownError",
    "GoogleSheetsDestination",
    "GoogleSheetsDestinationConfig",
    "SheetsApiCallError",
    "SheetsDestinationError",
    "SpreadsheetAccessError",
    "SpreadsheetMissingError",
    "SpreadsheetNotFoundError",
    "TabConflictError",
    "TabNotFoundError",
    "TabSummary",
    "describe_tabs",
    "index_title",
    "load_config",
    "row_count",
    "stream_columns",
    "tab_rows",
]
