"""Pushed input: Stripe events (already verified at intake) or raw webhooks, applied in order.

An event dict comes from the webhook inbox, which verified its signature when it arrived; it is
applied as it is, however long it waited, because the 300-second tolerance protects the intake
from replays, not the queue from delays (reference bug #2 lost events queued over five minutes).
A raw ``{"body", "headers"}`` webhook has not been checked yet: it is verified here with the
config's ``webhook_secret``\\(s) and rejected with a typed error, before anything is emitted, if
it is forged, stale or malformed.

Events are applied in batches of up to ``PUSH_BATCH`` (or what the input holds before it ends or
a bad item): an object with two different versions of one second among them, or than what it
last wrote (``recent_versions``), is fetched from Stripe instead (``versions``). After each
batch's records comes one global checkpoint (``last_event``: the batch's last event, and
``recent_versions``; ``webhook_seen`` when Connect accounts' events are among them, for the
reconcile to check webhooks against (``poll_scope``); ``connect_changes`` when Connect accounts
joined or left, each newly authorized account backfilled first by ``connect_backfill``; the events
of an account that left are skipped), merged into the stored global state: a global checkpoint
makes the destination commit every stream, so the records are durable once it is re-emitted.
The Connect endpoint delivers every connected account's events; those of an account the pipeline
does not cover (``covers``: outside a hand-kept list, or excluded) are dropped before anything.
Push never writes a per-stream state, which would overwrite the stream's backfill checkpoint
(reference bug #1).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Callable, Collection, Mapping
from contextlib import aclosing
from typing import Any

from pydantic import SecretStr

from sync_platform.protocol import Message, SourceInputMessage
from sync_platform.sources.stripe.client import StripeApiClient
from sync_platform.sources.stripe.connect_backfill import outside_filter
from sync_platform.sources.stripe.connect_changes import (
    CONNECT_CHANGES,
    UNMATCHED,
    Matches,
    departed,
    record_changes,
    touches_accounts,
)
from sync_platform.sources.stripe.errors import MalformedEventError
from sync_platform.sources.stripe.event_records import complete_event_records, event_records
from sync_platform.sources.stripe.global_state import GlobalState
from sync_platform.sources.stripe.poll_scope import WEBHOOK_SEEN, webhook_seen
from sync_platform.sources.stripe.versions import MEMORY_KEY, VersionMemory, fetch_current, settle
from sync_platform.sources.stripe.webhook_signature import (
    VerifiedEvent,
    WebhookVerificationError,
    event_from_payload,
    verify_webhook,
)

SIGNATURE_HEADER = "stripe-signature"
PUSH_BATCH = 100  # events compared and checkpointed together
# Backfills Connect accounts a batch's webhooks newly authorized (``connect_backfill``): records only.
JoinedBackfill = Callable[[list[str]], AsyncGenerator[Message, None]]
# Whether a connected account (by id) is one the pipeline covers (``discovery.coverage``)
Covers = Callable[[str], bool]


def _signature(headers: Any) -> str | None:
    if not isinstance(headers, Mapping):
        return None
    for name, value in headers.items():
        if str(name).lower() == SIGNATURE_HEADER:
            return str(value)
    return None


def pushed_event(item: Any, secrets: list[SecretStr]) -> dict[str, Any]:
    """The Stripe event in one pushed item; raises ``WebhookVerificationError`` for a raw webhook
    that fails verification and ``MalformedEventError`` for anything that is not an event."""
    if isinstance(item, SourceInputMessage):
        item = item.source_input
    if isinstance(item, Mapping) and item.get("type") == "source_input" and "source_input" in item:
        item = item["source_input"]
    if isinstance(item, VerifiedEvent):
        return item.payload
    if isinstance(item, Mapping) and "body" in item:
        return verify_webhook(item["body"], _signature(item.get("headers")), secrets).payload
    if isinstance(item, Mapping):
        try:
            return event_from_payload(dict(item)).payload
        except WebhookVerificationError as error:
            raise MalformedEventError(f"A pushed input is not a Stripe event: {error}") from None
    raise MalformedEventError(
        f"A pushed input is a {type(item).__name__}; expected a Stripe event or a raw webhook "
        '{"body", "headers"}.'
    )


async def apply_pushed(
    items: AsyncIterable[Any],
    *,
    client: StripeApiClient,
    secrets: list[SecretStr],
    selected: Collection[str],
    platform_account: str,
    global_state: GlobalState,
    on_joined: JoinedBackfill | None = None,
    matches: Matches | None = None,
    covers: Covers | None = None,
) -> AsyncGenerator[Message, None]:
    """Records (and tombstones) of the pushed events, a global checkpoint after each batch.

    ``matches`` is the account filter an ``account.updated`` can move an account across (None:
    those events change no account's membership); ``covers`` says which connected accounts'
    events are the pipeline's at all (None: every one). An item that fails verification raises once the
    events before it are applied.
    """
    memory = VersionMemory.from_global(global_state.snapshot())
    iterator = aiter(items)
    ended = False
    while not ended:
        batch: list[dict[str, Any]] = []
        failure: Exception | None = None
        while len(batch) < PUSH_BATCH:
            try:
                item = await anext(iterator)
            except StopAsyncIteration:
                ended = True
                break
            try:
                batch.append(pushed_event(item, secrets))
            except (WebhookVerificationError, MalformedEventError) as error:
                failure = error
                break
        if batch:
            applied = _apply_batch(
                batch,
                client=client,
                selected=selected,
                platform_account=platform_account,
                global_state=global_state,
                memory=memory,
                on_joined=on_joined,
                matches=matches,
                covers=covers,
            )
            async for message in applied:
                yield message
        if failure is not None:
            raise failure


async def _apply_batch(
    batch: list[dict[str, Any]],
    *,
    client: StripeApiClient,
    selected: Collection[str],
    platform_account: str,
    global_state: GlobalState,
    memory: VersionMemory,
    on_joined: JoinedBackfill | None = None,
    matches: Matches | None = None,
    covers: Covers | None = None,
) -> AsyncGenerator[Message, None]:
    changes: dict[str, Any] | None = None
    joined: list[str] = []
    # Another account's events (the Connect endpoint sends every connected account's): not ours.
    ours = [event for event in batch if _covered(event, platform_account, covers)]
    if any(touches_accounts(event, matches) for event in ours):  # Connect accounts joined or left
        changes, joined = record_changes(global_state.get(CONNECT_CHANGES), ours, matches)
        if joined and matches is not None:  # authorized, but is it in the metadata filter?
            outside = await outside_filter(client, joined, matches)
            for account in outside:
                changes[account] = {**changes[account], "change": UNMATCHED}
            joined = [account for account in joined if account not in outside]
    # An account that left is not read (it would refuse), nor written: a late event of it would
    # bring back rows its purge removed.
    gone = departed(changes if changes is not None else global_state.get(CONNECT_CHANGES))
    written = [
        entry
        for event in ours
        if event.get("account") not in gone
        for entry in event_records(event, selected=selected, platform_account=platform_account)
    ]
    fetched = await fetch_current(client, memory.plan(written))
    records = settle(written, fetched)
    await complete_event_records(client, records)
    for entry in records:
        yield entry.message()
    memory.remember(written, fetched, (int(event["created"]) for event in batch))
    last = batch[-1]
    updates = {"last_event": {"id": last["id"], "created": last["created"]}, MEMORY_KEY: memory.to_global()}
    if (seen := webhook_seen(global_state.get(WEBHOOK_SEEN), ours)) is not None:
        updates[WEBHOOK_SEEN] = seen  # what a reconcile checks webhooks against (``poll_scope``)
    if changes is not None:
        updates[CONNECT_CHANGES] = changes
        if joined and on_joined is not None:
            async with aclosing(on_joined(joined)) as backfill:
                async for message in backfill:
                    yield message
    yield global_state.update(updates)


def _covered(event: Mapping[str, Any], platform_account: str, covers: Covers | None) -> bool:
    """Whether ``event`` is the platform's own or a covered connected account's."""
    account = event.get("account")
    if covers is None or not isinstance(account, str) or not account or account == platform_account:
        return True
    return covers(account)
