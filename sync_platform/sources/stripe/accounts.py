"""The accounts one read covers: the platform account and its Connect accounts, with creation times.

A backfill starts at the account's creation (nothing can be older), so each account's ``created``
must be known. It is looked up with ``GET /v1/account`` (``Stripe-Account`` for a connected one),
or read from the platform's ``/v1/accounts`` listing when many accounts are new (100 a request),
**once per account, ever**: the answer is remembered in the global state (``accounts``, account
id -> created), and the platform's in the config (``setup`` stores it). A batch therefore costs no
account lookup at all once every account has been seen, where the old design asked once per
account per batch (702 of 7,277 requests for 100 accounts). Lookups of new accounts run
concurrently, bounded by ``max_concurrency``, under the read's one rate limit.

If a lookup fails for a reason other than the key, the backfill starts at Stripe's launch instead
(2011-01-01): nothing is missed, and a range's first request is one page over the whole range, so
a small account costs no more. A failed lookup is not remembered, so the next read asks again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sync_platform.errors import FailureKind
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.errors import StripeApiError, StripeAuthError

if TYPE_CHECKING:  # the backfill plan builds on this module's StripeAccount
    from sync_platform.sources.stripe.backfill_plan import StreamPlan

STRIPE_LAUNCH = 1_293_840_000  # 2011-01-01T00:00:00Z
ACCOUNT_PATH = "/v1/account"
ACCOUNTS_PATH = "/v1/accounts"
LIST_FROM = 10  # this many accounts to look up or more: list /v1/accounts first (``_list_created``)
LIST_PAGE_SIZE = 100
KNOWN_ACCOUNTS = "accounts"  # global-state key: {account id: created (unix seconds)}
ACCOUNT_ERRORS = "account_errors"  # global-state key: {account id: {"cause", "failure_kind"}}


@dataclass(frozen=True, slots=True)
class StripeAccount:
    """One account to read: its id, when it was created, and the ``Stripe-Account`` header to send.

    Slotted: a Connect platform's read holds one per account (10,000 and more)."""

    id: str
    created: int
    stripe_account: str | None  # None for the platform account (no header)


@dataclass(frozen=True)
class ResolvedAccounts:
    """Every account of a read (platform first), what was learned, and fallbacks taken."""

    accounts: list[StripeAccount]
    learned: dict[str, int]  # creation times looked up in this read, to remember in the global state
    warnings: list[str]


async def platform_account_id(client: StripeApiClient, config: StripeSourceConfig) -> str:
    """The configured account id, or the key's account (raises ``StripeAuthError`` for a bad key)."""
    if config.account_id is not None:
        return config.account_id
    return str((await client.get(ACCOUNT_PATH)).data["id"])


def known_accounts(raw: Any) -> dict[str, int]:
    """The remembered creation times of a stored global state (anything malformed is ignored)."""
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): v for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}


async def resolve_accounts(
    client: StripeApiClient,
    config: StripeSourceConfig,
    connected: list[str],
    *,
    known: Mapping[str, int] | None = None,
    max_concurrency: int = 16,
) -> ResolvedAccounts:
    """Every account of the read, platform first; only accounts not in ``known`` are looked up.

    Raises ``StripeAuthError`` when the key is refused, and ``StripeApiError`` when the platform
    account's id is not configured and cannot be looked up.
    """
    known = dict(known or {})
    warnings: list[str] = []
    learned: dict[str, int] = {}
    platform_id = config.account_id
    if platform_id is not None and config.account_created is not None:  # `setup` stores both
        platform = StripeAccount(platform_id, config.account_created, None)
    else:
        try:
            data = (await client.get(ACCOUNT_PATH)).data
        except StripeAuthError:
            raise
        except StripeApiError as error:
            if platform_id is None:
                raise
            warnings.append(f"Could not read the account's creation time ({error}); backfills start at 2011.")
            data = {"id": platform_id}
        platform = StripeAccount(platform_id or str(data["id"]), _created(data, config.account_created), None)
    missing = [account_id for account_id in connected if account_id not in known]
    if len(missing) >= LIST_FROM:
        learned.update(await _list_created(client, set(missing)))
        missing = [account_id for account_id in missing if account_id not in learned]
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def look_up(account_id: str) -> tuple[str, dict[str, Any] | StripeApiError]:
        async with gate:
            try:
                return account_id, (await client.get(ACCOUNT_PATH, account=account_id)).data
            except StripeAuthError:
                raise
            except StripeApiError as error:
                return account_id, error

    for account_id, answer in await asyncio.gather(*(look_up(a) for a in missing)):
        if isinstance(answer, StripeApiError):
            warnings.append(
                f"Could not read connected account {account_id} ({answer}); its backfills start at 2011."
            )
        elif isinstance(answer.get("created"), int):
            learned[account_id] = int(answer["created"])
    accounts = [platform]
    for account_id in connected:
        created = known.get(account_id, learned.get(account_id, STRIPE_LAUNCH))
        accounts.append(StripeAccount(account_id, created if created > 0 else STRIPE_LAUNCH, account_id))
    return ResolvedAccounts(accounts, learned, warnings)


async def _list_created(client: StripeApiClient, wanted: set[str]) -> dict[str, int]:
    """Creation times of ``wanted`` accounts from the platform's ``/v1/accounts`` (100 a page).

    One page can answer for 100 accounts where a lookup answers for one, but the platform may
    have far more accounts than the config names: listing stops once it has cost as many pages as
    accounts are still unanswered, so the worst case is twice the lookups, and the common case (a
    hand-kept list of most of the platform's accounts) is a hundredth of them. A listing the key
    may not make (not a Connect platform) leaves every account to its lookup.
    """
    found: dict[str, int] = {}
    params: dict[str, Any] = {"limit": LIST_PAGE_SIZE}
    pages = 0
    while pages < len(wanted) - len(found):
        try:
            page = (await client.get(ACCOUNTS_PATH, params)).data
        except StripeAuthError:
            raise
        except StripeApiError:
            return found
        pages += 1
        data = [a for a in page.get("data") or [] if isinstance(a, Mapping) and isinstance(a.get("id"), str)]
        for account in data:
            created = account.get("created")
            if account["id"] in wanted and isinstance(created, int) and not isinstance(created, bool):
                found[account["id"]] = created
        if not page.get("has_more") or not data:
            break
        params = {"limit": LIST_PAGE_SIZE, "starting_after": data[-1]["id"]}
    return found


def account_errors(
    stored: Any, plans: Iterable[StreamPlan], failures: Mapping[str, tuple[str, FailureKind]]
) -> dict[str, dict[str, str]]:
    """The parked Connect accounts after a backfill read: the stored ones this read did not try
    again (every lane of theirs was complete), plus this read's failures. An account that was
    read again without failing is healthy again."""
    tried = {account for plan in plans for account in plan.lanes}
    kept = {
        account: dict(entry)
        for account, entry in (stored.items() if isinstance(stored, Mapping) else ())
        if account not in tried and isinstance(entry, Mapping)
    }
    kept.update({a: {"cause": cause, "failure_kind": str(kind)} for a, (cause, kind) in failures.items()})
    return kept


def _created(data: Mapping[str, object], configured: int | None) -> int:
    if configured is not None:
        return configured
    created = data.get("created")
    return created if isinstance(created, int) and created > 0 else STRIPE_LAUNCH
