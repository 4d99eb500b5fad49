"""Opening gspread against Google (or, for tests and the demo, a loopback Sheets emulator).

gspread builds every URL from constants in ``gspread.urls`` and sends it through its ``HTTPClient``;
google-auth posts token requests to the credentials' ``token_uri``. With ``api_base_url`` set, a
small ``HTTPClient`` subclass re-points the Google hosts at that base URL and the credentials' token
URI is replaced by ``<base>/token``, so the real client code runs unchanged while every byte stays on
the machine. Any URL outside the known Google hosts or the base URL is refused outright.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from http import HTTPStatus
from typing import Any, ClassVar
from urllib.parse import urlsplit

import google.auth.exceptions
import gspread
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from gspread.http_client import HTTPClient
from requests import Response

from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.errors import (
    CredentialsError,
    SheetsApiCallError,
    SpreadsheetAccessError,
    SpreadsheetNotFoundError,
)
from sync_platform.redaction import redact

SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    # Only files this app created or was given: enough to create, share and open spreadsheets.
    "https://www.googleapis.com/auth/drive.file",
)
GOOGLE_HOSTS = frozenset({"sheets.googleapis.com", "www.googleapis.com", "oauth2.googleapis.com"})
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"


class RedirectError(SheetsApiCallError):
    def __init__(self, url: str, base_url: str) -> None:
        super().__init__(
            "redirect",
            None,
            f"Refusing to send a request to {urlsplit(url).netloc!r}: with `api_base_url` "
            f"set, only {base_url} is contacted.",
        )


def redirect(url: str, base_url: str) -> str:
    """``url`` with a Google host swapped for ``base_url``; anything else is refused."""
    if url.startswith(base_url + "/"):
        return url
    parts = urlsplit(url)
    if parts.hostname not in GOOGLE_HOSTS:
        raise RedirectError(url, base_url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url}{parts.path}{query}"


class RedirectingHTTPClient(HTTPClient):
    """gspread's HTTP client with Google's hosts replaced by a loopback base URL (test/demo only)."""

    base_url: ClassVar[str] = ""

    def request(
        self,
        method: str,
        endpoint: str,
        params: MutableMapping[str, Any] | None = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> Response:
        return super().request(
            method,
            redirect(endpoint, self.base_url),
            params=params,
            data=data,
            json=json,
            files=files,
            headers=headers,
        )


def _http_client_for(base_url: str) -> type[HTTPClient]:
    return type("RedirectingHTTPClientFor", (RedirectingHTTPClient,), {"base_url": base_url})


def build_credentials(config: GoogleSheetsDestinationConfig) -> Credentials:
    """google-auth credentials from the configured key or token (token URI re-pointed if redirected)."""
    info = config.credential_info()
    token_uri = (
        f"{config.api_base_url}/token" if config.api_base_url else info.get("token_uri") or DEFAULT_TOKEN_URI
    )
    try:
        if config.service_account_json is not None:
            return service_account.Credentials.from_service_account_info(
                {**info, "token_uri": token_uri}, scopes=list(SCOPES)
            )
        return user_credentials.Credentials.from_authorized_user_info(
            {**info, "token_uri": token_uri}, scopes=list(SCOPES)
        )
    except (ValueError, KeyError) as error:
        raise CredentialsError(
            f"The google_sheets credentials could not be loaded ({type(error).__name__}); check that "
            "the key file is complete and unmodified.",
            field="service_account_json" if config.service_account_json else "authorized_user_json",
            connector="google_sheets",
        ) from None


def connect(config: GoogleSheetsDestinationConfig) -> gspread.Client:
    """A gspread client for ``config`` (no request is made until first use)."""
    http_client = _http_client_for(config.api_base_url) if config.api_base_url else HTTPClient
    client = gspread.Client(build_credentials(config), http_client=http_client)
    client.set_timeout(config.request_timeout_seconds)
    return client


def api_error_status(error: gspread.exceptions.APIError) -> int:
    """The HTTP status of a gspread API error (the body's code, or the response's status)."""
    code = getattr(error, "code", None)
    return int(code) if isinstance(code, int) and code > 0 else int(error.response.status_code)


def api_error_message(error: gspread.exceptions.APIError) -> str:
    return redact(str(error.error.get("message", "")) if isinstance(error.error, Mapping) else str(error))


def credentials_rejected(config: GoogleSheetsDestinationConfig, error: Exception) -> CredentialsError:
    """Google's token endpoint said no: the key was revoked, deleted, or belongs to someone else."""
    reason = redact(str(error.args[0]) if error.args else type(error).__name__)
    return CredentialsError(
        f"Google rejected the credentials of {config.identity} ({reason}). Check that the key is "
        "current (not deleted or rotated in the Google Cloud console) and belongs to this account.",
        field="service_account_json" if config.service_account_json else "authorized_user_json",
        connector="google_sheets",
    )


def open_spreadsheet(client: gspread.Client, config: GoogleSheetsDestinationConfig) -> gspread.Spreadsheet:
    """Open ``config.spreadsheet_id``, turning Google's 404/403 into errors that say what to do."""
    spreadsheet_id = config.spreadsheet_id
    assert spreadsheet_id is not None  # callers check and raise SpreadsheetMissingError first
    try:
        return client.open_by_key(spreadsheet_id)
    except gspread.exceptions.SpreadsheetNotFound:
        raise SpreadsheetNotFoundError(spreadsheet_id, config.identity) from None
    except PermissionError:
        raise SpreadsheetAccessError(spreadsheet_id, config.identity) from None
    except google.auth.exceptions.RefreshError as error:
        raise credentials_rejected(config, error) from None
    except gspread.exceptions.APIError as error:
        status = api_error_status(error)
        if status == HTTPStatus.NOT_FOUND:
            raise SpreadsheetNotFoundError(spreadsheet_id, config.identity) from None
        if status == HTTPStatus.FORBIDDEN:
            raise SpreadsheetAccessError(spreadsheet_id, config.identity) from None
        raise SheetsApiCallError(
            "spreadsheets.get",
            status,
            f"Opening spreadsheet {spreadsheet_id!r} failed: {api_error_message(error)}",
        ) from None


def create_spreadsheet(client: gspread.Client, config: GoogleSheetsDestinationConfig) -> gspread.Spreadsheet:
    """Create a spreadsheet titled ``spreadsheet_title`` (owned by the configured identity)."""
    try:
        return client.create(config.spreadsheet_title)
    except google.auth.exceptions.RefreshError as error:
        raise credentials_rejected(config, error) from None
    except gspread.exceptions.APIError as error:
        raise SheetsApiCallError(
            "drive.files.create",
            api_error_status(error),
            f"Creating spreadsheet {config.spreadsheet_title!r} failed: {api_error_message(error)}",
        ) from None
