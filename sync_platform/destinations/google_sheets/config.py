"""The Google Sheets destination's config: credentials, target spreadsheet, quotas and batching.

Credentials are either a service-account key (the JSON file Google Cloud downloads) or an
authorized-user token (``client_id``, ``client_secret``, ``refresh_token``), held as ``SecretStr``
so they never show in a repr, a log line or an error. ``api_base_url`` exists for tests and the
offline demo only: it points gspread and google-auth at a loopback Sheets emulator and refuses any
other host, so no request (and no credential) can leave the machine through it.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from sync_platform.destinations.google_sheets.errors import CredentialsError
from sync_platform.errors import ConfigError

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
SERVICE_ACCOUNT_FIELDS = ("client_email", "private_key", "token_uri")
AUTHORIZED_USER_FIELDS = ("client_id", "client_secret", "refresh_token")


def _json_object(secret: SecretStr, *, field: str, required: tuple[str, ...]) -> dict[str, Any]:
    """Parse a secret JSON document, naming what is wrong without ever quoting it."""
    try:
        parsed = json.loads(secret.get_secret_value())
    except ValueError:
        raise ValueError(f"`{field}` is not valid JSON; paste the whole key file's contents") from None
    if not isinstance(parsed, dict):
        raise ValueError(f"`{field}` must be a JSON object")
    missing = [name for name in required if not parsed.get(name)]
    if missing:
        raise ValueError(f"`{field}` lacks {', '.join(missing)}")
    return parsed


class GoogleSheetsDestinationConfig(BaseModel):
    """Config of the ``google_sheets`` destination."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service_account_json: SecretStr | None = Field(
        default=None,
        description="The service account's JSON key file contents. Share the spreadsheet with its "
        "client_email as Editor.",
    )
    authorized_user_json: SecretStr | None = Field(
        default=None,
        description="Instead of a service account: an OAuth authorized-user token as JSON "
        "(client_id, client_secret, refresh_token).",
    )
    spreadsheet_id: str | None = Field(
        default=None,
        min_length=1,
        description="The target spreadsheet's id. When absent, setup creates a spreadsheet and reports "
        "its id through a destination_config control message.",
    )
    spreadsheet_title: str = Field(
        default="Stripe Sync", min_length=1, description="Title of a created spreadsheet."
    )
    share_with: list[str] = Field(
        default=[], description="E-mail addresses that setup gives Editor access to the spreadsheet."
    )
    max_cells_per_flush: int = Field(
        default=20_000,
        ge=100,
        le=1_000_000,
        description="Cells a flush aims for. While the previous flush is still on its way a buffer keeps "
        "growing (up to ten times this), so requests get bigger exactly when Google is the bottleneck.",
    )
    max_bytes_per_flush: int = Field(
        default=2_000_000,
        ge=10_000,
        description="Hard cap, in bytes, on the rows of one request (Google advises requests under 2 MB).",
    )
    write_requests_per_window: int = Field(
        default=60, ge=1, description="Write requests allowed per quota window (Google: 60 per user)."
    )
    quota_window_seconds: float = Field(default=60.0, gt=0, description="Length of the quota window.")
    max_retries: int = Field(default=8, ge=0, description="Retries of a request answered with 429 or 5xx.")
    retry_initial_seconds: float = Field(default=1.0, ge=0, description="First backoff; doubles per retry.")
    retry_max_seconds: float = Field(default=64.0, ge=0, description="Longest single backoff.")
    request_timeout_seconds: float = Field(default=120.0, gt=0, description="Timeout of one HTTP request.")
    api_base_url: str | None = Field(
        default=None,
        description="Test/demo only: a loopback Sheets emulator (http://127.0.0.1:<port>) to use "
        "instead of Google.",
    )

    @field_validator("service_account_json")
    @classmethod
    def _service_account(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            info = _json_object(value, field="service_account_json", required=SERVICE_ACCOUNT_FIELDS)
            if info.get("type", "service_account") != "service_account":
                raise ValueError(
                    "`service_account_json` is not a service account key (type != service_account)"
                )
        return value

    @field_validator("authorized_user_json")
    @classmethod
    def _authorized_user(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            _json_object(value, field="authorized_user_json", required=AUTHORIZED_USER_FIELDS)
        return value

    @field_validator("api_base_url")
    @classmethod
    def _loopback_only(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or parts.hostname not in LOOPBACK_HOSTS:
            raise ValueError(
                "`api_base_url` is a test/demo knob for the local Sheets emulator and must be a "
                "loopback URL such as http://127.0.0.1:8765; remove it to talk to Google"
            )
        return value.rstrip("/")

    @model_validator(mode="after")
    def _one_credential(self) -> GoogleSheetsDestinationConfig:
        if (self.service_account_json is None) == (self.authorized_user_json is None):
            raise ValueError("set exactly one of `service_account_json` and `authorized_user_json`")
        return self

    def credential_info(self) -> dict[str, Any]:
        """The parsed key file or token (secret: never log it)."""
        secret = self.service_account_json or self.authorized_user_json
        assert secret is not None  # guaranteed by _one_credential
        parsed: dict[str, Any] = json.loads(secret.get_secret_value())
        return parsed

    @property
    def identity(self) -> str:
        """Who the destination acts as, for messages: the service account e-mail (not a secret)."""
        if self.service_account_json is not None:
            return str(self.credential_info()["client_email"])
        return f"the authorized user of OAuth client {self.credential_info()['client_id']}"


def load_config(raw: dict[str, Any] | GoogleSheetsDestinationConfig) -> GoogleSheetsDestinationConfig:
    """Validate a config dict; errors name the field and the rule but never echo a value."""
    if isinstance(raw, GoogleSheetsDestinationConfig):
        return raw
    try:
        return GoogleSheetsDestinationConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        reason = str(first["msg"]).removeprefix("Value error, ")
        cls = CredentialsError if field in ("service_account_json", "authorized_user_json") else ConfigError
        where = f" at {field!r}" if field else ""
        raise cls(
            f"Invalid google_sheets destination config{where}: {reason}.",
            field=field,
            connector="google_sheets",
        ) from None
