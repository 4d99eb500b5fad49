"""The accounts one read covers: the platform account and its Connect accounts, with creation times.

A backfill starts at the account's creation (nothing can be older), so each account's ``created``
is looked up once per read with ``GET /v1/account`` (``Stripe-Account`` for a connected one),
unless the config already holds it (``setup`` stores the platform's). If the lookup fails for a
reason other than the key, the backfill starts at Stripe's launch instead (2011-01-01): slower,
since the first ranges come back empty, but nothing is missed.
"""

from __future__ import annotations

from dataclasses import dataclass

from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.errors import StripeApiError, StripeAuthError

STRIPE_LAUNCH = 1_293_840_000  # 2011-01-01T00:00:00Z
ACCOUNT_PATH = "/v1/account"


@dataclass(frozen=True)
class StripeAccount:
    """One account to read: its id, when it was created, and the ``Stripe-Account`` header to send."""

    id: str
    created: int
    stripe_account: str | None  # None for the platform account (no header)


async def platform_account_id(client: StripeApiClient, config: StripeSourceConfig) -> str:
    """The configured account id, or the key's account (raises ``StripeAuthError`` for a bad key)."""
    if config.account_id is not None:
        return config.account_id
    return str((await client.get(ACCOUNT_PATH)).data["id"])


async def resolve_accounts(
    client: StripeApiClient, config: StripeSourceConfig
) -> tuple[list[StripeAccount], list[str]]:
    """Every account of the read, platform first, and warnings about fallbacks taken.

    Raises ``StripeAuthError`` when the key is refused, and ``StripeApiError`` when the platform
    account's id is not configured and cannot be looked up.
    """
    warnings: list[str] = []
    if config.account_id is not None and config.account_created is not None:
        platform = StripeAccount(config.account_id, config.account_created, None)
    else:
        try:
            data = (await client.get(ACCOUNT_PATH)).data
        except StripeAuthError:
            raise
        except StripeApiError as error:
            if config.account_id is None:
                raise
            warnings.append(f"Could not read the account's creation time ({error}); backfills start at 2011.")
            data = {"id": config.account_id}
        platform = StripeAccount(
            config.account_id or str(data["id"]), _created(data, config.account_created), None
        )
    accounts = [platform]
    for account_id in config.connected_accounts:
        try:
            data = (await client.get(ACCOUNT_PATH, account=account_id)).data
        except StripeAuthError:
            raise
        except StripeApiError as error:
            warnings.append(
                f"Could not read connected account {account_id} ({error}); its backfills start at 2011."
            )
            data = {}
        accounts.append(StripeAccount(account_id, _created(data, None), account_id))
    return accounts, warnings


def _created(data: dict[str, object], configured: int | None) -> int:
    if configured is not None:
        return configured
    created = data.get("created")
    return created if isinstance(created, int) and created > 0 else STRIPE_LAUNCH
