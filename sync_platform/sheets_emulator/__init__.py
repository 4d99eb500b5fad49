"""A local Google Sheets API (v4, plus the Drive v3 and OAuth calls gspread makes), kept in memory.

No machine here reaches Google, so tests, benchmarks and the offline demo drive the real ``gspread``
client against this emulator. It is faithful where a client's correctness depends on it: value
input semantics (RAW vs USER_ENTERED, formulas), atomic ``batchUpdate``, grid limits and the
10,000,000-cell cap, per-user write/read quotas answered with Google's 429 body, permissions, and
scripted failures. It counts every request by kind for tests and benchmarks to read.
"""

from sync_platform.sheets_emulator.app import create_app
from sync_platform.sheets_emulator.cells import MAX_CELL_CHARACTERS
from sync_platform.sheets_emulator.emulator import EmulatorStats, SheetsEmulator
from sync_platform.sheets_emulator.errors import SheetsApiError
from sync_platform.sheets_emulator.keys import (
    DEMO_SERVICE_ACCOUNT,
    GeneratedKey,
    generate_service_account_key,
)
from sync_platform.sheets_emulator.model import DEFAULT_CELL_LIMIT, Role, Sheet
from sync_platform.sheets_emulator.quota import QuotaLimit, RequestClass
from sync_platform.sheets_emulator.server import EmulatorStartError, serve_sheets_emulator

__all__ = [
    "DEFAULT_CELL_LIMIT",
    "DEMO_SERVICE_ACCOUNT",
    "MAX_CELL_CHARACTERS",
    "EmulatorStartError",
    "EmulatorStats",
    "GeneratedKey",
    "QuotaLimit",
    "RequestClass",
    "Role",
    "Sheet",
    "SheetsApiError",
    "SheetsEmulator",
    "create_app",
    "generate_service_account_key",
    "serve_sheets_emulator",
]
