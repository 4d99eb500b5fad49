"""Each Connect account's status, read from the checkpoints the runner already stores.

The state's shape is the source's business, so this is the one reader of it that the CLI, the
API and Dagster share (through ``StripeSource.account_status``): none of them parses the JSON.
Nothing extra is stored for it, so a status can never disagree with the checkpoint a run resumes
from. An account is:

- ``deauthorized``: a Connect webhook (``account.application.deauthorized``) said so, and no later
  ``authorized`` one brought it back (``connect_changes``, kept by the pushed path); with
  ``purged: true`` once the runner removed its rows from the destination (``purge_deauthorized``);
- ``error``: parked by the last backfill read, with Stripe's cause and the failure kind
  (``account_errors``), or by the events poll (``poll_parked`` in the live state, until a
  reconcile's replay reads it again; ``poll_parking``);
- ``backfilling``: a lane of it still has ranges to list, or a stream that reads connected
  accounts has not started it yet (a newly connected account);
- ``ready`` otherwise: every one of its lanes has listed its whole window.

An account that stopped matching an ``"all"`` pipeline's ``account_metadata`` (``account.updated``)
has left the set and is not shown. ``healthy`` counts ready and backfilling accounts: what the
issue asks the pipeline to report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_platform.sources.stripe.accounts import ACCOUNT_ERRORS, KNOWN_ACCOUNTS
from sync_platform.sources.stripe.connect_changes import CONNECT_CHANGES, UNMATCHED, merged
from sync_platform.sources.stripe.discovery import DISCOVERED
from sync_platform.sources.stripe.poll_parking import POLL_PARKED, parked_accounts

STATUSES = ("ready", "backfilling", "error", "deauthorized")


def _global(source_state: Any) -> Mapping[str, Any]:
    value = source_state.get("global") if isinstance(source_state, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _streams(source_state: Any) -> Mapping[str, Any]:
    value = source_state.get("streams") if isinstance(source_state, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _connected_set(
    backfill: Mapping[str, Any], parked: Mapping[str, Any], changes: Mapping[str, str]
) -> list[str]:
    """The accounts the pipeline covers: the run's discovered set (``"all"``), else every account
    a read looked up or parked (the backfill or the poll), plus those a webhook authorized since."""
    discovered = backfill.get(DISCOVERED)
    if isinstance(discovered, Mapping) and isinstance(discovered.get("ids"), list):
        ids = [str(account) for account in discovered["ids"]]
    else:
        known = backfill.get(KNOWN_ACCOUNTS)
        ids = [str(account) for account in known] if isinstance(known, Mapping) else []
        errors = backfill.get(ACCOUNT_ERRORS)
        ids += [str(account) for account in errors] if isinstance(errors, Mapping) else []
        ids += list(parked)
    ids += list(changes)
    return list(dict.fromkeys(ids))


def summarize(backfill_state: Any, live_state: Any = None) -> dict[str, Any] | None:
    """``{total, healthy, counts: {status: n}, accounts: {id: {status, cause?, failure_kind?, purged?}}}``
    from the backfill and live source states; None when the pipeline has no Connect account."""
    backfill, live = _global(backfill_state), _global(live_state)
    entries = merged(backfill.get(CONNECT_CHANGES), live.get(CONNECT_CHANGES))
    changes = {account: entry["change"] for account, entry in entries.items()}
    parked = parked_accounts(live.get(POLL_PARKED))
    ids = [a for a in _connected_set(backfill, parked, changes) if changes.get(a) != UNMATCHED]
    if not ids:
        return None
    stored = backfill.get(ACCOUNT_ERRORS)
    errors = {**parked, **(stored if isinstance(stored, Mapping) else {})}
    open_lanes: set[str] = set()
    expected: list[set[str]] = []  # per stream that reads connected accounts: the accounts it has
    wanted = set(ids)
    for raw in _streams(backfill_state).values():
        if not isinstance(raw, Mapping) or not isinstance(raw.get("accounts"), Mapping):
            continue
        started = set(raw["accounts"])
        if started & wanted:
            expected.append(started)
        for part in raw.get("remaining") or ():
            if isinstance(part, Mapping) and isinstance(part.get("account"), str):
                open_lanes.add(part["account"])
        unread = raw.get("unread")
        if isinstance(unread, list):
            open_lanes.update(account for account in unread if isinstance(account, str))
    accounts: dict[str, dict[str, str]] = {}
    for account in ids:
        if changes.get(account) == "deauthorized":
            purged = {"purged": True} if entries[account].get("purged") else {}
            accounts[account] = {"status": "deauthorized", **purged}
        elif isinstance(errors.get(account), Mapping):
            entry = errors[account]
            accounts[account] = {
                "status": "error",
                "cause": str(entry.get("cause", "")),
                "failure_kind": str(entry.get("failure_kind", "")),
            }
        elif account in open_lanes or not expected or any(account not in s for s in expected):
            accounts[account] = {"status": "backfilling"}
        else:
            accounts[account] = {"status": "ready"}
    counts = dict.fromkeys(STATUSES, 0)
    for entry in accounts.values():
        counts[entry["status"]] += 1
    healthy = counts["ready"] + counts["backfilling"]
    return {"total": len(accounts), "healthy": healthy, "counts": counts, "accounts": accounts}


def healthy_line(summary: Mapping[str, Any]) -> str:
    """``"998 of 1,000 connected accounts healthy (990 ready, 8 backfilling, 2 error, 0 deauthorized)"``."""
    counts = summary["counts"]
    detail = ", ".join(f"{counts[status]:,} {status}" for status in STATUSES)
    return f"{summary['healthy']:,} of {summary['total']:,} connected accounts healthy ({detail})"
