"""Opening gspread against Google (or, for tests and the demo, a loopback Sheets emulator).

gspread sends every API call through a ``requests`` session, and google-auth sends token requests
(and, in recent versions, a background "regional access boundary" lookup on iamcredentials) through
a second one. With ``api_base_url`` set, both are ``requests`` sessions that rewrite any
``*.googleapis.com`` URL to the base URL and refuse every other host, so the real gspread and
google-auth code runs unchanged while no byte (and no credential) leaves the machine. gspread
documents passing your own session (``Client(auth, session=...)``) as a supported way in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast
from urllib.parse import urlsplit

import google.auth.exceptions
import gspread
import requests
from google.auth.credentials import Credentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account

from sync_platform.destinations.google_sheets.config import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.errors import (
    CredentialsError,
    SheetsApiCallError,
)
from sync_platform.errors import FailureKind
from sync_platform.redaction import redact

SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    # Only files this app created or was given: enough to create, share and open spreadsheets.
    "https://www.googleapis.com/auth/drive.file",
)
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, google.auth.exceptions.TransportError)
"""No answer from Google (a lost connection, a timeout): ``transient`` once retries are over."""


class RedirectError(SheetsApiCallError):
    """A request for a host other than Google's while ``api_base_url`` is set: the config's doing."""

    def __init__(self, url: str, base_url: str) -> None:
        super().__init__(
            "redirect",
            None,
            f"Refusing to send a request to {urlsplit(url).netloc!r}: with `api_base_url` set, only "
            f"{base_url} is contacted.",
            failure_kind=FailureKind.CONFIG,
        )


def redirect(url: str, base_url: str) -> str:
    """``url`` with its Google host swapped for ``base_url``; any other host is refused."""
    if url.startswith(base_url + "/"):
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not (host == "googleapis.com" or host.endswith(".googleapis.com")):
        raise RedirectError(url, base_url)
    query = f"?{parts.query}" if parts.query else ""
    return f"{base_url}{parts.path}{query}"


class RedirectingSession(requests.Session):
    """A ``requests`` session that sends Google's URLs to a loopback base URL (test/demo only)."""

    # google-auth deep-copies its transport for a background lookup; requests sessions copy only
    # the attributes listed here, so the base URL must be one of them.
    __attrs__ = [*requests.Session.__attrs__, "base_url"]

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        target = redirect(url.decode() if isinstance(url, bytes) else url, self.base_url)
        return super().request(method, target, *args, **kwargs)


class RedirectingAuthorizedSession(AuthorizedSession):
    """google-auth's authorized session, with API calls and its own token traffic redirected."""

    def __init__(self, credentials: Credentials, base_url: str) -> None:
        transport = Request(session=RedirectingSession(base_url))
        super().__init__(credentials, auth_request=transport)  # type: ignore[no-untyped-call]  # untyped lib
        self.base_url = base_url

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        target = redirect(str(url), self.base_url)
        response = super().request(method, target, *args, **kwargs)  # type: ignore[no-untyped-call]  # untyped lib
        return cast(requests.Response, response)


def auth_request(config: GoogleSheetsDestinationConfig) -> Request:
    """The transport google-auth uses for token requests made outside gspread (``check``)."""
    if config.api_base_url:
        return Request(session=RedirectingSession(config.api_base_url))
    return Request()


def build_credentials(config: GoogleSheetsDestinationConfig) -> Credentials:
    """google-auth credentials from the configured key or token (token URI re-pointed if redirected)."""
    info = config.credential_info()
    token_uri = (
        f"{config.api_base_url}/token" if config.api_base_url else info.get("token_uri") or DEFAULT_TOKEN_URI
    )
    info = {**info, "token_uri": token_uri}
    try:
        if config.service_account_json is not None:
            loaded = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]  # untyped lib
        else:
            loaded = user_credentials.Credentials.from_authorized_user_info(info, scopes=list(SCOPES))  # type: ignore[no-untyped-call]  # untyped lib
        return cast(Credentials, loaded)
    except (ValueError, KeyError) as error:
        raise CredentialsError(
            f"The google_sheets credentials could not be loaded ({type(error).__name__}); check that "
            "the key file is complete and unmodified.",
            field="service_account_json" if config.service_account_json else "authorized_user_json",
            connector="google_sheets",
        ) from None


def connect(config: GoogleSheetsDestinationConfig) -> gspread.Client:
    """A gspread client for ``config`` (no request is made until first use)."""
    credentials = build_credentials(config)
    session = RedirectingAuthorizedSession(credentials, config.api_base_url) if config.api_base_url else None
    client = gspread.Client(credentials, session=session)
    client.set_timeout(config.request_timeout_seconds)
    return client


def api_error_status(error: gspread.exceptions.APIError) -> int:
    """The HTTP status of a gspread API error (the body's code, or the response's status)."""
    code = getattr(error, "code", None)
    return int(code) if isinstance(code, int) and code > 0 else int(error.response.status_code)


def api_error_message(error: gspread.exceptions.APIError) -> str:
    return redact(str(error.error.get("message", "")) if isinstance(error.error, Mapping) else str(error))


def credentials_rejected(
    config: GoogleSheetsDestinationConfig, error: Exception
) -> CredentialsError | SheetsApiCallError:
    """Google's token endpoint said no: the key was revoked, deleted, or belongs to someone else
    (``auth``). When google-auth marks the refusal retryable (the token endpoint failed, after its
    own retries) it is a ``transient`` failure of the ``token`` call instead."""
    reason = redact(str(error.args[0]) if error.args else type(error).__name__)
    if getattr(error, "retryable", False):
        return SheetsApiCallError(
            "token", None, f"Google's token endpoint failed for {config.identity} ({reason}); retry later."
        )
    return CredentialsError(
        f"Google rejected the credentials of {config.identity} ({reason}). Check that the key is "
        "current (not deleted or rotated in the Google Cloud console) and belongs to this account.",
        field="service_account_json" if config.service_account_json else "authorized_user_json",
        connector="google_sheets",
        failure_kind=FailureKind.AUTH,
    )


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
    except NETWORK_ERRORS as error:
        raise SheetsApiCallError(
            "drive.files.create",
            None,
            f"Creating spreadsheet {config.spreadsheet_title!r} failed: Google could not be reached "
            f"({type(error).__name__}).",
        ) from None
