"""The Stripe source's config: a pydantic model whose JSON schema is the connector's spec.

Defaults follow Stripe's published limits rather than the reference's: Stripe allows 100 read
requests per second in live mode and 25 in test mode, so the source keeps 20 % headroom (80 and
20 requests per second) for the account's other API users (dashboards, the app itself) unless
``rate_limit`` says otherwise. Secrets are ``SecretStr`` (``format: password``, ``writeOnly``), which
is how the pipeline store finds and seals them.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sync_platform.errors import ConfigError
from sync_platform.sources.stripe.catalog import API_VERSION, UnknownStripeStreamError, stream_by_name

DEFAULT_BASE_URL = "https://api.stripe.com"
LIVE_RATE_LIMIT = 80.0
TEST_RATE_LIMIT = 20.0
DEFAULT_MAX_CONCURRENCY = 16
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 6
API_KEY_PATTERN = r"^(sk|rk)_(test|live)_[0-9A-Za-z]+$"
ACCOUNT_ID_PATTERN = r"^acct_[0-9A-Za-z]+$"
URL_PATTERN = r"^https?://[^\s/]+(/\S*)?$"
LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")

AccountId = Annotated[str, Field(pattern=ACCOUNT_ID_PATTERN)]
AccountList = Annotated[list[AccountId], Field(json_schema_extra={"uniqueItems": True})]
# Up to this many connected accounts, "auto" polls every one: a cycle costs a few requests more,
# and no webhook lost on its way is left for the next reconcile to find (see ``poll_scope``).
AUTO_POLL_ALL_MAX = 10
# What connected accounts commonly hold data in (direct charges, their customers and billing,
# payouts): a selected stream outside this set is read for the platform account only, so a
# product a connected account does not use costs nothing per account (see docs, Connect).
DEFAULT_CONNECTED_STREAMS = (
    "charge", "customer", "dispute", "invoice", "payment_intent", "payout", "price", "product",
    "refund", "subscription",
)  # fmt: skip


class StripeSourceConfig(BaseModel):
    """How to reach one Stripe account (and its Connect accounts), and how hard to push it."""

    model_config = ConfigDict(extra="forbid", title="Stripe source")

    api_key: SecretStr = Field(
        description="Secret key (sk_live_…/sk_test_…) or restricted key (rk_…) with read access.",
        json_schema_extra={"pattern": API_KEY_PATTERN},
    )
    account_id: AccountId | None = Field(
        default=None, description="The platform account (acct_…); `setup` fills it in from the key."
    )
    account_created: int | None = Field(
        default=None,
        ge=0,
        description="When the account was created (unix seconds): where backfills start. Set by `setup`.",
    )
    connected_accounts: AccountList | Literal["all"] = Field(
        default_factory=list,
        description=(
            'Connect accounts to sync too (each read with the Stripe-Account header), or "all": every '
            "account the platform's /v1/accounts lists, found again by each new run."
        ),
    )
    exclude_accounts: list[AccountId] = Field(
        default_factory=list,
        description='With connected_accounts "all": accounts never to sync.',
        json_schema_extra={"uniqueItems": True},
    )
    account_metadata: dict[str, str] = Field(
        default_factory=dict,
        description='With connected_accounts "all": only accounts whose metadata has all these values.',
    )
    purge_deauthorized: bool = Field(
        default=False,
        description=(
            "Remove a Connect account's rows from the destination once its access is revoked "
            "(account.application.deauthorized); off: its rows stay, no longer kept current."
        ),
    )
    connected_streams: list[str] | Literal["all"] = Field(
        default_factory=lambda: list(DEFAULT_CONNECTED_STREAMS),
        description=(
            "Streams read for each connected account (the platform account reads every selected stream); "
            '"all" reads every selected stream for every account.'
        ),
    )
    api_version: str = Field(
        default=API_VERSION,
        min_length=1,
        description="Stripe-Version sent with every request; defaults to the stripe SDK's pinned version.",
    )
    base_url: str = Field(
        default=DEFAULT_BASE_URL,
        pattern=URL_PATTERN,
        description="Stripe API base URL (the emulator's for tests and the demo).",
    )
    rate_limit: float | None = Field(
        default=None,
        gt=0,
        le=10_000,
        description=(
            f"Requests per second, shared by all streams of a read (default {LIVE_RATE_LIMIT:g} for "
            f"live keys, {TEST_RATE_LIMIT:g} for test keys: 80 % of Stripe's limits)."
        ),
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY, ge=1, le=256, description="Requests in flight at once."
    )
    backfill_limit: int | None = Field(
        default=None, gt=0, description="List at most this many objects per stream (the newest ones)."
    )
    poll_events: bool = Field(
        default=False, description="Keep the stream current by polling /v1/events (the events-poll lane)."
    )
    poll_connected_accounts: Literal["auto", "all", "none"] | AccountList = Field(
        default="auto",
        description=(
            "Which connected accounts the events poll asks (one request per account, event-type chunk "
            'and page each cycle): "all"; "none" or a list (only these), each plus the accounts a '
            'reconcile flagged because webhooks missed their changes; "auto" is "all" while the '
            f"pipeline takes no webhooks or has at most {AUTO_POLL_ALL_MAX} connected accounts, "
            '"none" otherwise (their changes come through the Connect webhook endpoint).'
        ),
    )
    webhook_secret: SecretStr | list[SecretStr] | None = Field(
        default=None,
        description="Webhook signing secret(s) (whsec_…); several while one is being rotated.",
    )
    webhook_url: str | None = Field(
        default=None,
        pattern=URL_PATTERN,
        description="Where Stripe should send webhooks; `setup` creates and manages that endpoint.",
    )
    request_timeout: float = Field(
        default=DEFAULT_REQUEST_TIMEOUT, gt=0, le=600, description="Seconds to wait for one response."
    )
    max_retries: int = Field(
        default=DEFAULT_MAX_RETRIES,
        ge=0,
        le=20,
        description="Retries of a request that failed with a 5xx or no answer (429s get up to 20).",
    )

    @field_validator("api_key")
    @classmethod
    def _key_shape(cls, value: SecretStr) -> SecretStr:
        if not re.match(API_KEY_PATTERN, value.get_secret_value()):
            raise ValueError("must be a Stripe secret key (sk_live_…, sk_test_…) or restricted key (rk_…)")
        return value

    @field_validator("connected_accounts", "poll_connected_accounts")
    @classmethod
    def _unique_accounts(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list) and len(set(value)) != len(value):
            raise ValueError("lists an account twice")
        return value

    @field_validator("connected_streams")
    @classmethod
    def _known_streams(cls, value: list[str] | str) -> list[str] | str:
        if isinstance(value, list):
            for name in value:
                try:
                    stream_by_name(name)
                except UnknownStripeStreamError as error:
                    raise ValueError(str(error)) from None
        return value

    @property
    def discovers_accounts(self) -> bool:
        """Whether the connected accounts are found by listing ``/v1/accounts`` (``"all"``)."""
        return self.connected_accounts == "all"

    @property
    def listed_accounts(self) -> list[str]:
        """The connected accounts the config names (none when they are discovered)."""
        return [] if isinstance(self.connected_accounts, str) else list(self.connected_accounts)

    def reads_for_connected(self, stream: str) -> bool:
        """Whether ``stream`` is read for connected accounts (``connected_streams``)."""
        return self.connected_streams == "all" or stream in self.connected_streams

    @property
    def is_live(self) -> bool:
        return self.api_key.get_secret_value().startswith(LIVE_KEY_PREFIXES)

    @property
    def requests_per_second(self) -> float:
        if self.rate_limit is not None:
            return self.rate_limit
        return LIVE_RATE_LIMIT if self.is_live else TEST_RATE_LIMIT

    @property
    def webhook_secrets(self) -> list[SecretStr]:
        if self.webhook_secret is None:
            return []
        return self.webhook_secret if isinstance(self.webhook_secret, list) else [self.webhook_secret]


def config_schema() -> dict[str, Any]:
    """The JSON schema of the config, as ``spec().config`` publishes it."""
    return StripeSourceConfig.model_json_schema()


def parse_config(raw: dict[str, Any] | StripeSourceConfig) -> StripeSourceConfig:
    """The validated config, or a ``ConfigError`` naming the field (never quoting its value)."""
    if isinstance(raw, StripeSourceConfig):
        return raw
    try:
        return StripeSourceConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        where = f" at {field!r}" if field else ""
        reason = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(
            f"Invalid source config for 'stripe'{where}: {reason}. "
            "See `docs/sources/stripe.md` for the fields and their defaults.",
            field=field,
            connector="stripe",
        ) from None
