"""A newly authorized Connect account, backfilled by the live run that applies its webhook.

``account.application.authorized`` arrives through the same inbox and live lane as every other
event, so the run that applies it reads the new account's data too: its connected streams, from
its creation to now, and nothing of any other account (no ``/v1/accounts`` listing, no other
account's lane). The account is in the destination within one live run of its first event,
instead of waiting for the next backfill run to list the platform's accounts again.

Only records come out: the pushed path never writes a per-stream state (it would overwrite the
backfill lane's checkpoint), so the batch's global checkpoint, emitted after these records, is
what marks the event applied. A live run that dies during this backfill applies the event again,
which reads the account again from the start; new accounts are small, and upserts make the
repeat harmless. The next backfill run finds the account in its listing and gives it lanes of its
own, which keep it complete from then on.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing

from sync_platform.protocol import ConfiguredStream, Message, RecordMessage, SyncMode
from sync_platform.sources.stripe.accounts import ACCOUNT_PATH, resolve_accounts
from sync_platform.sources.stripe.backfill import BackfillRunner
from sync_platform.sources.stripe.backfill_plan import plan_stream
from sync_platform.sources.stripe.backfill_state import SharedParts
from sync_platform.sources.stripe.catalog import stream_by_name
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.connect_changes import Matches
from sync_platform.sources.stripe.errors import StripeApiError, StripeAuthError


async def outside_filter(client: StripeApiClient, accounts: Sequence[str], matches: Matches) -> set[str]:
    """The newly authorized ``accounts`` whose metadata fails the pipeline's ``account_metadata``
    filter (one ``/v1/account`` each). ``account.application.authorized`` carries the application,
    not the account, so without this look every authorized account was backfilled, filter or not.
    An account whose lookup fails is kept: its backfill reports what is wrong with it."""

    async def fails(account: str) -> bool:
        try:
            data = (await client.get(ACCOUNT_PATH, account=account)).data
        except StripeAuthError:
            raise
        except StripeApiError:
            return False
        return not matches({**data, "id": account})

    verdicts = await asyncio.gather(*(fails(account) for account in accounts))
    return {account for account, outside in zip(accounts, verdicts, strict=True) if outside}


async def backfill_joined(
    client: StripeApiClient,
    config: StripeSourceConfig,
    joined: Sequence[str],
    streams: Sequence[ConfiguredStream],
    *,
    now: int,
) -> AsyncGenerator[Message, None]:
    """The records of ``joined`` accounts' connected streams (one ``/v1/account`` lookup each)."""
    wanted = [a for a in joined if a not in config.exclude_accounts and a != config.account_id]
    if not wanted:
        return
    resolved = await resolve_accounts(client, config, list(wanted), max_concurrency=config.max_concurrency)
    accounts = resolved.accounts[1:]  # the platform's own lanes are the backfill lane's business
    plans = []
    shared = SharedParts()
    for configured in streams:
        if not config.reads_for_connected(configured.name):
            continue
        listing = configured.model_copy(update={"sync_mode": SyncMode.FULL_REFRESH, "time_range": None})
        plan, _ = plan_stream(
            stream_by_name(configured.name),
            listing,
            None,
            accounts,
            now=now,
            backfill_limit=config.backfill_limit,
            tagged=True,
            shared=shared,
        )
        plans.append(plan)
    runner = BackfillRunner(client, plans, max_concurrency=config.max_concurrency)
    async with aclosing(runner.run()) as messages:
        async for message in messages:
            if isinstance(message, RecordMessage):
                yield message
