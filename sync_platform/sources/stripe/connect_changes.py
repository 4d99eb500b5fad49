"""Connect accounts joining and leaving, as the Connect webhooks report them.

``account.application.authorized`` / ``deauthorized`` arrive through the same inbox and live lane
as every other event. The pushed path records each account's latest change in the global state
(``connect_changes``: ``{id: {"change": "authorized" | "deauthorized", "created": unix}}``), so
the account's status is known the moment the event is applied, not at the next listing of
``/v1/accounts``. Webhooks arrive in any order, so the newer event wins and an older one that
arrives late changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CONNECT_CHANGES = "connect_changes"
CHANGES = {
    "account.application.authorized": "authorized",
    "account.application.deauthorized": "deauthorized",
}


def connect_changes(raw: Any) -> dict[str, str]:
    """Each account's latest change (anything malformed is ignored)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(account): entry["change"]
        for account, entry in raw.items()
        if isinstance(entry, Mapping) and entry.get("change") in CHANGES.values()
    }


def record_changes(stored: Any, events: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Any], list[str]]:
    """The stored changes with these events' applied, and the accounts newly authorized by them
    (an account that was not authorized before, in order of their events)."""
    entries = stored.items() if isinstance(stored, Mapping) else ()
    merged: dict[str, Any] = {str(k): dict(v) for k, v in entries if isinstance(v, Mapping)}
    before = connect_changes(merged)
    for event in events:
        change = CHANGES.get(str(event.get("type")))
        account = event.get("account")
        if change is None or not isinstance(account, str):
            continue
        created = int(event.get("created") or 0)
        known = merged.get(account)
        if known is not None and int(known.get("created") or 0) > created:
            continue  # a late retry of an older change
        merged[account] = {"change": change, "created": created}
    after = connect_changes(merged)
    joined = [a for a, change in after.items() if change == "authorized" and before.get(a) != "authorized"]
    return merged, joined
