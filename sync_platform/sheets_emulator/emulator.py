"""The emulator's state and API operations, independent of HTTP: spreadsheets, tokens, quotas.

``SheetsEmulator.call`` is the single door every API request goes through: authenticate the bearer
token, admit it against the quota, apply a scripted failure if one is queued, run the operation,
count it. A lock serialises calls, so tests can inspect state from another thread at any time.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sync_platform.sheets_emulator.a1 import parse_a1
from sync_platform.sheets_emulator.auth import Authority
from sync_platform.sheets_emulator.batch_update import apply_batch_update
from sync_platform.sheets_emulator.cells import Cell, effective, render
from sync_platform.sheets_emulator.errors import SheetsApiError, not_found
from sync_platform.sheets_emulator.keys import DEMO_SERVICE_ACCOUNT, generate_service_account_key
from sync_platform.sheets_emulator.model import DEFAULT_CELL_LIMIT, Edit, Role, Sheet, Spreadsheet
from sync_platform.sheets_emulator.quota import (
    QuotaLimit,
    Quotas,
    RequestClass,
    RequestLog,
    ScriptedFailure,
    quota_exceeded,
    request_class,
)
from sync_platform.sheets_emulator.values_api import read_range

T = TypeVar("T")
SPREADSHEET_MIME_TYPE = "application/vnd.google-apps.spreadsheet"

_FAILURE_MESSAGES = {
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The request timed out.",
}


@dataclass(frozen=True)
class EmulatorStats:
    """A snapshot of the request counters (accepted by kind; rejections by kind and status)."""

    accepted: dict[str, int]
    rejected: dict[tuple[str, int], int]
    cells_written: int

    def count(self, request_class_name: str) -> int:
        """Accepted requests of one class: ``read``, ``write``, ``drive`` or ``token``."""
        return sum(n for kind, n in self.accepted.items() if request_class(kind) == request_class_name)

    @property
    def write_requests(self) -> int:
        return self.count(RequestClass.WRITE)

    @property
    def read_requests(self) -> int:
        return self.count(RequestClass.READ)

    def rejected_with(self, status: int) -> int:
        return sum(n for (_, code), n in self.rejected.items() if code == status)


class SheetsEmulator:
    """In-memory Google Sheets (plus the Drive and OAuth calls gspread makes)."""

    def __init__(
        self, *, cell_limit: int = DEFAULT_CELL_LIMIT, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.cell_limit = cell_limit
        self.authority = Authority()
        self.quotas = Quotas(monotonic)
        self.log = RequestLog()
        self._spreadsheets: dict[str, Spreadsheet] = {}
        self._lock = threading.RLock()
        self._counted = threading.Condition(self._lock)
        self.base_url: str | None = None
        """Set while the emulator is served over HTTP (``serve_sheets_emulator``)."""

    # --- test and benchmark controls --------------------------------------------------------------

    def reset(self) -> None:
        """Forget every spreadsheet, token, quota, scripted failure and counter."""
        with self._lock:
            self._spreadsheets.clear()
            self.authority.reset()
            self.quotas.reset()
            self.log = RequestLog()

    def set_quota(self, *, write: QuotaLimit | None = None, read: QuotaLimit | None = None) -> None:
        with self._lock:
            self.quotas.set_limit(RequestClass.WRITE, write)
            self.quotas.set_limit(RequestClass.READ, read)

    def fail_next(
        self,
        count: int,
        *,
        status: int = 503,
        kinds: Iterable[str] = ("spreadsheets.batchUpdate",),
        after_apply: bool = False,
        skip: int = 0,
    ) -> None:
        """Answer ``count`` requests of ``kinds`` with ``status``, after letting ``skip`` through;
        ``after_apply`` applies them first, as when a response is lost on the way back."""
        with self._lock:
            self.quotas.script(ScriptedFailure(count, status, frozenset(kinds), after_apply, skip))

    def wait_for(self, kind: str, *, at_least: int = 1, timeout: float = 10.0) -> bool:
        """Block until ``at_least`` requests of ``kind`` were accepted (False on timeout).

        For requests that clients make in the background, such as google-auth's IAM lookup.
        """
        with self._counted:
            return self._counted.wait_for(lambda: self.log.accepted[kind] >= at_least, timeout)

    def pending_failures(self) -> int:
        with self._lock:
            return self.quotas.pending_failures()

    def stats(self) -> EmulatorStats:
        with self._lock:
            return EmulatorStats(dict(self.log.accepted), dict(self.log.rejected), self.log.cells_written)

    def register_service_account(self, email: str, public_key_pem: bytes) -> None:
        with self._lock:
            self.authority.register_service_account(email, public_key_pem)

    def new_service_account(self, email: str = DEMO_SERVICE_ACCOUNT) -> dict[str, Any]:
        """A freshly generated key file (for ``service_account_json``), registered with this emulator.

        The demo uses it as ``{"service_account_json": json.dumps(key), "api_base_url": base_url}``.
        """
        key = generate_service_account_key(email)
        self.register_service_account(key.email, key.public_key_pem)
        return key.info

    def create_spreadsheet(
        self, title: str = "Untitled spreadsheet", *, owner: str, shared_with: Mapping[str, str] | None = None
    ) -> str:
        """Create a spreadsheet owned by ``owner`` (shared with ``{identity: role}``); returns its id."""
        with self._lock:
            spreadsheet = self._new_spreadsheet(title, owner)
            for identity, role in (shared_with or {}).items():
                spreadsheet.permissions[identity] = Role(role)
            return spreadsheet.spreadsheet_id

    def add_sheet(self, spreadsheet_id: str, title: str, *, rows: int = 1000, columns: int = 26) -> int:
        """Add a tab directly (as a person using the spreadsheet would); returns its sheet id."""
        with self._lock:
            spreadsheet = self._get(spreadsheet_id)
            edit = Edit(spreadsheet, cell_limit=self.cell_limit)
            reply = apply_batch_update(
                edit,
                [
                    {
                        "addSheet": {
                            "properties": {
                                "title": title,
                                "gridProperties": {"rowCount": rows, "columnCount": columns},
                            }
                        }
                    }
                ],
            )
            edit.commit()
            return int(reply[0]["addSheet"]["properties"]["sheetId"])

    # --- inspection -------------------------------------------------------------------------------

    def spreadsheet_ids(self) -> list[str]:
        with self._lock:
            return list(self._spreadsheets)

    def sheets(self, spreadsheet_id: str) -> list[Sheet]:
        """Copies of every tab, in order (metadata and cells)."""
        with self._lock:
            return [sheet.clone() for sheet in self._get(spreadsheet_id).sheets]

    def sheet(self, spreadsheet_id: str, title: str) -> Sheet:
        with self._lock:
            sheet = self._get(spreadsheet_id).by_title(title)
            if sheet is None:
                raise KeyError(f"no tab {title!r} in spreadsheet {spreadsheet_id}")
            return sheet.clone()

    def values(self, spreadsheet_id: str, title: str) -> list[list[Any]]:
        """A tab's values as ``values.get(valueRenderOption=UNFORMATTED_VALUE)`` returns them."""
        with self._lock:
            spreadsheet = self._get(spreadsheet_id)
            if spreadsheet.by_title(title) is None:
                raise KeyError(f"no tab {title!r} in spreadsheet {spreadsheet_id}")
            quoted = "'" + title.replace("'", "''") + "'"
            return list(read_range(spreadsheet, quoted, "UNFORMATTED_VALUE").get("values", []))

    def total_cells(self, spreadsheet_id: str) -> int:
        with self._lock:
            return self._get(spreadsheet_id).total_cells()

    def permissions(self, spreadsheet_id: str) -> dict[str, str]:
        with self._lock:
            spreadsheet = self._get(spreadsheet_id)
            return {spreadsheet.owner: "owner"} | {k: str(v) for k, v in spreadsheet.permissions.items()}

    # --- the API door -----------------------------------------------------------------------------

    def call(self, kind: str, authorization: str | None, operation: Callable[[str], T]) -> T:
        """Run one API request: authenticate, admit, maybe fail as scripted, apply, count."""
        with self._lock:
            try:
                identity = self.authority.identity(authorization)
                self.quotas.admit(identity, kind)
                failure = self.quotas.take_failure(kind)
                if failure is not None and not failure.after_apply:
                    raise self._scripted_error(failure.status, kind)
                result = operation(identity)
                self.log.accepted[kind] += 1
                self._counted.notify_all()
                if failure is not None:
                    raise self._scripted_error(failure.status, kind)
                return result
            except SheetsApiError as error:
                self.log.rejected[(kind, error.code)] += 1
                raise

    def note(self, kind: str) -> None:
        """Count a request that needs no handling (google-auth's side lookups)."""
        with self._lock:
            self.log.accepted[kind] += 1
            self._counted.notify_all()

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            self.log.accepted["token"] += 1
            self._counted.notify_all()
            return self.authority.grant(form)

    def _scripted_error(self, status: int, kind: str) -> SheetsApiError:
        if status == 429:
            return quota_exceeded(QuotaLimit(0), request_class(kind))
        return SheetsApiError(status, _FAILURE_MESSAGES.get(status, f"Scripted failure ({status})."))

    # --- operations (called inside ``call``) --------------------------------------------------------

    def _new_spreadsheet(self, title: str, owner: str) -> Spreadsheet:
        spreadsheet_id = secrets.token_urlsafe(33)[:44]
        spreadsheet = Spreadsheet(spreadsheet_id=spreadsheet_id, title=title, owner=owner)
        spreadsheet.sheets.append(Sheet(sheet_id=0, title="Sheet1", index=0))
        self._spreadsheets[spreadsheet_id] = spreadsheet
        return spreadsheet

    def _get(self, spreadsheet_id: str) -> Spreadsheet:
        spreadsheet = self._spreadsheets.get(spreadsheet_id)
        if spreadsheet is None:
            raise not_found()
        return spreadsheet

    def _open(self, spreadsheet_id: str, identity: str, *, write: bool) -> Spreadsheet:
        spreadsheet = self._get(spreadsheet_id)
        role = spreadsheet.role_of(identity)
        if role is None or (write and role is Role.READER):
            raise SheetsApiError(403, "The caller does not have permission")
        return spreadsheet

    def open_for_read(self, spreadsheet_id: str, identity: str) -> Spreadsheet:
        return self._open(spreadsheet_id, identity, write=False)

    def edit(self, spreadsheet_id: str, identity: str, change: Callable[[Edit], T]) -> T:
        """Apply ``change`` to a draft of the spreadsheet and commit it only if it all succeeds."""
        edit = Edit(self._open(spreadsheet_id, identity, write=True), cell_limit=self.cell_limit)
        result = change(edit)
        edit.commit()
        return result

    def create_for(self, identity: str, title: str) -> Spreadsheet:
        return self._new_spreadsheet(title, identity)

    def delete(self, spreadsheet_id: str, identity: str) -> None:
        spreadsheet = self._get(spreadsheet_id)
        if spreadsheet.role_of(identity) is not Role.OWNER:
            raise SheetsApiError(403, "The user does not have sufficient permissions for this file.")
        del self._spreadsheets[spreadsheet_id]

    def share(self, spreadsheet_id: str, identity: str, grantee: str, role: str) -> None:
        spreadsheet = self._open(spreadsheet_id, identity, write=True)
        if role not in ("reader", "writer", "commenter"):
            raise SheetsApiError(400, f"Invalid permission role: {role}")
        spreadsheet.permissions[grantee] = Role.READER if role == "commenter" else Role(role)

    def count_cells(self, cells: int) -> None:
        self.log.cells_written += cells

    def resource(
        self, spreadsheet: Spreadsheet, *, include_grid: bool, ranges: list[str] | None
    ) -> dict[str, Any]:
        """The ``spreadsheets.get`` body, with ``data`` (userEnteredValue per cell) when asked."""
        sheets: list[dict[str, Any]] = []
        wanted = _grid_ranges(spreadsheet, ranges) if include_grid else {}
        for sheet in spreadsheet.sheets:
            entry: dict[str, Any] = {"properties": sheet.properties()}
            if include_grid and (ranges is None or sheet.sheet_id in wanted):
                spans = wanted.get(sheet.sheet_id, [(0, sheet.row_count, 0, sheet.column_count)])
                entry["data"] = [_grid_data(sheet, *span) for span in spans]
            sheets.append(entry)
        return {
            "spreadsheetId": spreadsheet.spreadsheet_id,
            "properties": spreadsheet.properties(),
            "sheets": sheets,
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{spreadsheet.spreadsheet_id}/edit",
        }


def _grid_ranges(
    spreadsheet: Spreadsheet, ranges: list[str] | None
) -> dict[int, list[tuple[int, int, int, int]]]:
    spans: dict[int, list[tuple[int, int, int, int]]] = {}
    for text in ranges or []:
        span = parse_a1(text, spreadsheet.titles())
        sheet = spreadsheet.by_title(span.sheet) if span.sheet else spreadsheet.sheets[0]
        if sheet is None:
            raise SheetsApiError(400, f"Unable to parse range: {text}")
        bottom = min(span.end_row or sheet.row_count, sheet.row_count)
        right = min(span.end_col or sheet.column_count, sheet.column_count)
        spans.setdefault(sheet.sheet_id, []).append((span.start_row, bottom, span.start_col, right))
    return spans


def _grid_data(sheet: Sheet, top: int, bottom: int, left: int, right: int) -> dict[str, Any]:
    stored_bottom = min(bottom, len(sheet.rows))
    row_data = []
    for cells in sheet.block(top, max(top, stored_bottom), left, right):
        row_data.append({"values": [_cell_data(cell) for cell in cells]})
    data: dict[str, Any] = {"rowData": row_data}
    if top:
        data["startRow"] = top
    if left:
        data["startColumn"] = left
    return data


def _cell_data(cell: Cell | None) -> dict[str, Any]:
    if cell is None:
        return {}
    return {
        "userEnteredValue": cell,
        "effectiveValue": effective(cell),
        "formattedValue": render(cell, "FORMATTED_VALUE"),
    }
