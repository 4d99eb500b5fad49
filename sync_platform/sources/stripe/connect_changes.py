"""Connect accounts joining and leaving, as the Connect webhooks report them.

``account.application.authorized`` / ``deauthorized`` arrive through the same inbox and live lane
as every other event. The pushed path records each account's latest change in the global state
(``connect_changes``: ``{id: {"change", "created", "purged"?}}``), so the account's status is
known the moment the event is applied, not at the next listing of ``/v1/accounts``. Webhooks
arrive in any order, so the newer event wins and an older one that arrives late changes nothing.

``account.updated`` matters to a pipeline over ``"all"`` accounts with an ``account_metadata``
filter: the event's ``previous_attributes`` say what the metadata was, so an account that stopped
matching is recorded as ``unmatched`` (it leaves the set, like a deauthorized one: no more reads,
its rows stay) and one that started matching as ``matched`` (it joins, like an authorized one:
backfilled by the live run that applies the event). A metadata change never brings back an
account that was deauthorized.

The live lane writes these changes in the live checkpoint; the runner carries them into the
backfill's reads (``with_changes``), which then skip the accounts that left (``departed``), and
records there which deauthorized accounts' rows it purged (``mark_purged``). ``merged`` reads
both copies, the newer change of each account winning.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

CONNECT_CHANGES = "connect_changes"
CHANGES = {
    "account.application.authorized": "authorized",
    "account.application.deauthorized": "deauthorized",
}
ACCOUNT_UPDATED = "account.updated"
MATCHED, UNMATCHED = "matched", "unmatched"
KNOWN = {*CHANGES.values(), MATCHED, UNMATCHED}
IN_SET = {"authorized", MATCHED}
LEFT_SET = {"deauthorized", UNMATCHED}
# Whether an account object passes the pipeline's account filter (None: no filter to pass)
Matches = Callable[[Mapping[str, Any]], bool]


def _entries(raw: Any) -> dict[str, dict[str, Any]]:
    """The well-formed entries of a stored ``connect_changes`` (anything malformed is ignored)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(account): dict(entry)
        for account, entry in raw.items()
        if isinstance(entry, Mapping) and entry.get("change") in KNOWN
    }


def merged(*stored: Any) -> dict[str, dict[str, Any]]:
    """Each account's newest entry among several stored copies (the backfill's, the live one's).

    At equal times a later copy wins, but the same change keeps what either copy recorded of it
    (the purge is recorded in the backfill's copy, the change itself came with the live one's).
    """
    result: dict[str, dict[str, Any]] = {}
    for raw in stored:
        for account, entry in _entries(raw).items():
            known = result.get(account)
            if known is None or _created(entry) > _created(known):
                result[account] = entry
            elif _created(entry) == _created(known):
                same = entry["change"] == known["change"]
                result[account] = {**known, **entry} if same else entry
    return result


def connect_changes(raw: Any) -> dict[str, str]:
    """Each account's latest change."""
    return {account: entry["change"] for account, entry in _entries(raw).items()}


def departed(raw: Any) -> set[str]:
    """The accounts whose latest change took them out of the set: no read may ask them."""
    return {account for account, entry in _entries(raw).items() if entry["change"] in LEFT_SET}


def to_purge(*stored: Any) -> list[str]:
    """Deauthorized accounts whose rows were not purged since (in order of their change)."""
    entries = merged(*stored)
    waiting = [(a, e) for a, e in entries.items() if e["change"] == "deauthorized" and not e.get("purged")]
    return [account for account, _ in sorted(waiting, key=lambda item: (_created(item[1]), item[0]))]


def mark_purged(stored: Any, accounts: Iterable[str], *others: Any) -> dict[str, Any]:
    """``stored`` with these accounts' newest entries (read across ``others`` too) marked purged."""
    entries = _entries(stored)
    newest = merged(stored, *others)
    for account in accounts:
        if account in newest:
            entries[account] = {**newest[account], "purged": True}
    return entries


def with_changes(stored: Any, *others: Any) -> dict[str, dict[str, Any]] | None:
    """``stored`` with the newer entries of ``others`` merged in; None when it has them all."""
    result = merged(stored, *others)
    return None if result == _entries(stored) else result


def touches_accounts(event: Mapping[str, Any], matches: Matches | None) -> bool:
    """Whether ``event`` may change which Connect accounts the pipeline covers."""
    return event.get("type") in CHANGES or (matches is not None and event.get("type") == ACCOUNT_UPDATED)


def record_changes(
    stored: Any, events: Iterable[Mapping[str, Any]], matches: Matches | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The stored changes with these events' applied, and the accounts that joined by them (an
    account that was not in the set before, in order of their events)."""
    entries = _entries(stored)
    before = {account: entry["change"] for account, entry in entries.items()}
    for event in events:
        account = event.get("account")
        change = CHANGES.get(str(event.get("type")))
        if change is None and matches is not None and event.get("type") == ACCOUNT_UPDATED:
            change = _membership_change(event, matches)
            if entries.get(str(account), {}).get("change") == "deauthorized":
                change = None  # metadata never brings back a deauthorized account
        if change is None or not isinstance(account, str):
            continue
        created = int(event.get("created") or 0)
        known = entries.get(account)
        if known is not None and _created(known) > created:
            continue  # a late retry of an older change
        entries[account] = {"change": change, "created": created}
    joined = [
        account
        for account, entry in entries.items()
        if entry["change"] in IN_SET and before.get(account) not in IN_SET
    ]
    return entries, joined


def _membership_change(event: Mapping[str, Any], matches: Matches) -> str | None:
    """``matched`` or ``unmatched`` when the update moved the account across the filter."""
    data = event.get("data") if isinstance(event.get("data"), Mapping) else {}
    account = data.get("object")
    if not isinstance(account, Mapping):
        return None
    previous_attributes = data.get("previous_attributes")
    changed = previous_attributes.get("metadata") if isinstance(previous_attributes, Mapping) else None
    if not isinstance(changed, Mapping):
        return None  # the metadata did not change
    metadata = account.get("metadata") if isinstance(account.get("metadata"), Mapping) else {}
    previous = {**metadata, **changed}  # Stripe lists the changed keys with their old values
    was = matches({**account, "metadata": {k: v for k, v in previous.items() if v not in (None, "")}})
    now = matches(account)
    if was == now:
        return None
    return MATCHED if now else UNMATCHED


def _created(entry: Mapping[str, Any]) -> int:
    value = entry.get("created")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
