"""Connected accounts found, not listed by hand: ``connected_accounts: "all"`` lists ``/v1/accounts``.

A platform with thousands of accounts cannot keep a config list current by hand. With ``"all"``,
the first batch of each run lists the platform's ``/v1/accounts`` (100 accounts a request, each
with its ``created``, so no account needs a ``GET /v1/account`` lookup), drops the ones in
``exclude_accounts`` and those whose metadata lacks ``account_metadata``, and stores the set in
the global state with the run's time ceiling. Later batches of the run reuse it (a set that moved
mid-run would re-plan lanes between batches); the next run lists again, so an account connected
since is set up and backfilled alone (the others' completed lanes cost nothing), and a
deauthorized account leaves the set: its lanes are no longer planned and its rows stay.

Between listings the set moves by webhook (``connect_changes``): an ``account.updated`` whose
metadata change moves an account across the ``account_metadata`` filter is judged by
``membership``, the same rule the listing applies.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sync_platform.protocol import ConfiguredCatalog, to_unix
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.global_state import GlobalState

ACCOUNTS_PATH = "/v1/accounts"
DISCOVERED = "connected_accounts"  # global-state key: {"ceiling": unix seconds | None, "ids": [...]}
PAGE_SIZE = 100


@dataclass(frozen=True)
class Discovery:
    """The connected accounts of this read, their creation times, and whether they were listed now."""

    ids: list[str]
    created: dict[str, int]
    listed: bool  # False: the run's stored set was reused, nothing was requested
    ceiling: int | None

    def checkpoint(self) -> dict[str, Any]:
        return {DISCOVERED: {"ceiling": self.ceiling, "ids": list(self.ids)}}


def run_ceiling(catalog: ConfiguredCatalog) -> int | None:
    """The run's frozen upper bound (the engine sets it as every stream's ``time_range.lt``)."""
    ends = [
        to_unix(stream.time_range.lt)
        for stream in catalog.streams
        if stream.time_range is not None and stream.time_range.lt is not None
    ]
    return max(ends) if ends else None


async def discover_accounts(
    client: StripeApiClient, config: StripeSourceConfig, global_state: GlobalState, ceiling: int | None
) -> Discovery:
    """The run's connected accounts: stored by an earlier batch of the run, or listed now."""
    stored = global_state.get(DISCOVERED)
    if (
        ceiling is not None
        and isinstance(stored, Mapping)
        and stored.get("ceiling") == ceiling
        and isinstance(stored.get("ids"), list)
    ):
        return Discovery([str(account) for account in stored["ids"]], {}, False, ceiling)
    ids: list[str] = []
    created: dict[str, int] = {}
    params: dict[str, Any] = {"limit": PAGE_SIZE}
    while True:
        page = (await client.get(ACCOUNTS_PATH, params)).data
        data = page.get("data", [])
        accounts = [a for a in data if isinstance(a, Mapping) and isinstance(a.get("id"), str)]
        for account in accounts:
            if wanted(account, config):
                ids.append(account["id"])
                if isinstance(account.get("created"), int):
                    created[account["id"]] = account["created"]
        if not page.get("has_more") or not accounts:
            return Discovery(ids, created, True, ceiling)
        params = {"limit": PAGE_SIZE, "starting_after": accounts[-1]["id"]}


def wanted(account: Mapping[str, Any], config: StripeSourceConfig) -> bool:
    """Not excluded, and its metadata holds every ``account_metadata`` value."""
    if account["id"] in config.exclude_accounts or account["id"] == config.account_id:
        return False
    metadata = account.get("metadata") if isinstance(account.get("metadata"), Mapping) else {}
    return all(metadata.get(key) == value for key, value in config.account_metadata.items())


def coverage(config: StripeSourceConfig) -> Callable[[str], bool]:
    """Whether a connected account's pushed events are the pipeline's, judged by its id alone:
    with a hand-kept list, one it names; with ``"all"``, one not excluded. The Connect endpoint
    delivers every connected account's events, so the others must be dropped (an
    ``account_metadata`` filter needs the account itself: see ``membership``)."""
    if config.discovers_accounts:
        excluded = {*config.exclude_accounts, config.account_id}
        return lambda account: account not in excluded
    listed = set(config.listed_accounts)
    return lambda account: account in listed


def membership(config: StripeSourceConfig) -> Callable[[Mapping[str, Any]], bool] | None:
    """The filter an updated account must pass to stay in (or join) the set; None when an
    update cannot move an account in or out (a hand-kept list, or no ``account_metadata``)."""
    if not config.discovers_accounts or not config.account_metadata:
        return None
    return lambda account: isinstance(account.get("id"), str) and wanted(account, config)
