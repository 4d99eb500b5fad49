"""Which connected accounts the events poll asks, and how a reconcile widens that set.

**Why not every account.** A platform's ``/v1/events`` holds none of its connected accounts'
events: each account is asked with its ``Stripe-Account`` header, one request per account,
``types[]`` chunk and page, every poll cycle, so 1,000 accounts cost 1,000+ requests a cycle even
when nothing changed. Stripe sends connected accounts' events to the Connect webhook endpoint
anyway, into the same inbox and live lane as the platform's (one live run applies every
account's pending events), so a pipeline that takes webhooks need not ask. The poll therefore
covers the platform account, the accounts ``poll_connected_accounts`` names (those webhooks cannot
reach), and the accounts a reconcile flagged. ``"auto"`` polls every account while the pipeline
takes no webhooks (then the poll is the only live channel) or has at most ``AUTO_POLL_ALL_MAX``
connected accounts (a few requests more buy not waiting a day for a lost webhook).

**The flag: changes no webhook brought.** The live state remembers, per connected account, when
the newest event a webhook delivered was created (``webhook_seen``, written by the pushed path,
kept for ``WEBHOOK_MEMORY_SECONDS``, longer than the reconcile's replay window). The reconcile
replays recent events of every account (its state carries ``replay``, so its read is never
narrowed) and notes each account's newest event (``replay_newest``). An account whose newest
event is older than ``GRACE_SECONDS`` (time enough for its webhook to arrive and be applied) yet
newer than its newest webhook had that change missed by webhooks (a failing or disabled endpoint,
a Connect endpoint never set up): the replay applied the change, and the account is flagged in the
live state (``poll_flags: {id: {"until", "missed"}}``) so that the following poll cycles ask it too,
until ``FLAG_SECONDS`` pass. A later reconcile that finds its newest event delivered lifts the flag
and one that finds it missed again renews it; a flag nobody renews lapses, so a reconcile that
stopped running cannot leave the poll wide for good. Only changes made since the live lanes took
over count (``live_since``, the backfill's start): older ones were the backfill's to list, and no
webhook was ever going to bring them.

**Parked accounts are not asked.** An account the poll parked after an error (``poll_parking``:
access revoked, the account gone, failing after retries) is left out of every poll, whatever the
setting or flag says, until a reconcile's replay (which asks every account, parked ones from where
they stopped) finds it readable again: a revoked account would otherwise cost a refused request
every cycle.

This compares one number per account, the newest event: an older event lost between two delivered
ones is healed by the replay but does not flag its account. That is the price of a live state that
stays one small entry per recently active account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.backfill_queue import SUMMARY_ACCOUNTS
from sync_platform.sources.stripe.config import AUTO_POLL_ALL_MAX, StripeSourceConfig
from sync_platform.sources.stripe.global_state import GlobalState
from sync_platform.sources.stripe.poll_parking import POLL_PARKED, parked_accounts

POLL_FLAGS = "poll_flags"  # live global state: {account id: {"until": unix s, "missed": created}}
LIVE_SINCE = "live_since"  # live global state: unix s from which changes are the live lanes' to bring
WEBHOOK_SEEN = "webhook_seen"  # live global state: {account id: created of its newest pushed event}
REPLAY = "replay"  # a reconcile's throwaway global state: True (poll every account, note the newest)
REPLAY_NEWEST = "replay_newest"  # the same: {account id: created of the newest event replayed}
GRACE_SECONDS = 600
FLAG_SECONDS = 2 * 86_400  # a daily reconcile renews a flag before it lapses, with a day to spare
WEBHOOK_MEMORY_SECONDS = 4 * 86_400  # longer than the reconcile's replay (source.REPLAY_WINDOW)


@dataclass(frozen=True)
class PollScope:
    """The accounts one read polls (platform first) and what its log should say about them."""

    accounts: list[StripeAccount]
    warnings: list[str]


def poll_scope(
    config: StripeSourceConfig, accounts: Sequence[StripeAccount], global_state: GlobalState, now: int
) -> PollScope:
    """The accounts whose ``/v1/events`` this read asks: all of them for a replay, else those the
    config says (all, or the named and the flagged ones), but never a parked one."""
    platform, connected = accounts[0], accounts[1:]
    if global_state.get(REPLAY) is True:
        return PollScope(list(accounts), [])
    chosen = config.poll_connected_accounts
    if chosen == "auto":
        wide = not config.webhook_secrets or len(connected) <= AUTO_POLL_ALL_MAX
        chosen = "all" if wide else "none"
    named = set(chosen) if isinstance(chosen, list) else set()
    flags = active_flags(global_state.get(POLL_FLAGS), now)
    polled = [a for a in connected if chosen == "all" or a.id in named or a.id in flags]
    widened = sorted(account.id for account in polled if account.id in flags and account.id not in named)
    warnings = []
    if widened and chosen != "all":
        until = datetime.fromtimestamp(max(flags[a]["until"] for a in widened), UTC).isoformat()
        warnings.append(
            f"A reconcile found changes no webhook brought for {len(widened):,} connected account(s) "
            f"({_some(widened)}): the events poll asks them too, "
            f"until {until} unless a reconcile finds their webhooks arriving again."
        )
    parked = parked_accounts(global_state.get(POLL_PARKED))
    if skipped := sorted(account.id for account in polled if account.id in parked):
        warnings.append(
            f"{len(skipped):,} connected account(s) parked after an error are not polled until a "
            f"reconcile finds them readable again ({_some(skipped)})."
        )
        polled = [account for account in polled if account.id not in parked]
    return PollScope([platform, *polled], warnings)


def _some(ids: Sequence[str]) -> str:
    """The first few ids of a list, and how many more (a log line stays short at 10,000)."""
    more = f" and {len(ids) - SUMMARY_ACCOUNTS} more" if len(ids) > SUMMARY_ACCOUNTS else ""
    return f"{', '.join(ids[:SUMMARY_ACCOUNTS])}{more}"


def active_flags(raw: Any, now: int) -> dict[str, dict[str, int]]:
    """The flags of a stored live state that have not lapsed by ``now`` (malformed ones ignored)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(account): {
            "until": entry["until"],
            "missed": entry["missed"] if _seconds(entry.get("missed")) else 0,
        }
        for account, entry in raw.items()
        if isinstance(entry, Mapping) and _seconds(entry.get("until")) and entry["until"] > now
    }


def newest_by_account(prior: Any, events: Iterable[Mapping[str, Any]]) -> dict[str, int] | None:
    """``prior`` (account id -> created) with the newest ``created`` of each connected account among
    ``events`` (those that carry ``account``); None when none of them is a connected account's."""
    merged = account_seconds(prior)
    found = False
    for event in events:
        account, created = event.get("account"), event.get("created")
        if isinstance(account, str) and _seconds(created):
            found = True
            if created > merged.get(account, -1):
                merged[account] = created
    return merged if found else None


def webhook_seen(prior: Any, events: Sequence[Mapping[str, Any]]) -> dict[str, int] | None:
    """The pushed path's ``webhook_seen`` after ``events``, accounts quiet for longer than
    ``WEBHOOK_MEMORY_SECONDS`` (of event time) forgotten; None when it does not change."""
    merged = newest_by_account(prior, events)
    if merged is None:
        return None
    floor = max(merged.values()) - WEBHOOK_MEMORY_SECONDS
    return {account: created for account, created in merged.items() if created >= floor}


def after_replay(live: Mapping[str, Any], replayed: Mapping[str, Any], now: int) -> dict[str, Any] | None:
    """The live global state with ``poll_flags`` updated from a replay's global state, or None
    when they stay as they are (nothing else of the live state is touched)."""
    newest = account_seconds(replayed.get(REPLAY_NEWEST))
    since = live.get(LIVE_SINCE)
    if not _seconds(since):  # a live state older than this key: judge from now on
        return {**live, LIVE_SINCE: now} if newest else None
    flags = active_flags(live.get(POLL_FLAGS), now)
    seen = account_seconds(live.get(WEBHOOK_SEEN))
    for account, created in newest.items():
        if created < since or created > now - GRACE_SECONDS:
            continue  # the backfill listed it, or its webhook may still be on its way
        if seen.get(account, -1) >= created:
            flags.pop(account, None)
        else:
            flags[account] = {"until": now + FLAG_SECONDS, "missed": created}
    stored = live.get(POLL_FLAGS)
    if flags == (stored if isinstance(stored, Mapping) else {}):
        return None
    return {**live, POLL_FLAGS: flags}


def account_seconds(raw: Any) -> dict[str, int]:
    """An ``{account id: unix seconds}`` map of a stored state (anything malformed is ignored)."""
    if not isinstance(raw, Mapping):
        return {}
    return {str(account): value for account, value in raw.items() if _seconds(value)}


def _seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
