"""Connect accounts that left: what the runner asks the source about them (``engine.source_lanes``).

The live lane learns that an account left (``connect_changes`` in the live checkpoint), but the
other reads start from other states: the backfill's checkpoint and the reconcile's replay. So the
runner hands each such read the live lane's account changes (``with_account_changes``), and the
read skips the accounts that left (``StripeSource._read``): a deauthorized account costs no
request, whether the pipeline lists ``"all"`` accounts or keeps a list by hand. The replay also
gets the accounts the events poll parked, with where each stopped, so it asks them again from
there (``poll_parking``).

With ``purge_deauthorized`` the runner also removes a deauthorized account's rows from the
destination: it asks which accounts wait for that (``accounts_to_purge``), purges them, then
stores the backfill checkpoint ``forget_accounts`` returns, which records the purge (so it is not
repeated, and the account shows ``purged``) and drops the account's backfill lanes and parked
error. Its progress is forgotten with its rows: authorized again, it is backfilled from scratch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from sync_platform.sources.stripe.accounts import ACCOUNT_ERRORS
from sync_platform.sources.stripe.backfill_state import StreamStateError, entry_listed, parse_stream_state
from sync_platform.sources.stripe.config import StripeSourceConfig
from sync_platform.sources.stripe.connect_changes import CONNECT_CHANGES, mark_purged, to_purge, with_changes
from sync_platform.sources.stripe.poll_parking import POLL_PARKED
from sync_platform.sources.stripe.poll_scope import REPLAY


def _global(state: Any) -> Mapping[str, Any]:
    value = state.get("global") if isinstance(state, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def with_account_changes(state: Any, live: Any) -> dict[str, Any] | None:
    """``state`` (a source state as JSON) with the live state's newer account changes, and for a
    reconcile's replay the accounts the events poll parked (it asks them again from where they
    stopped: ``poll_parking``); None when there is nothing to carry."""
    carry: dict[str, Any] = {}
    changes = with_changes(_global(state).get(CONNECT_CHANGES), _global(live).get(CONNECT_CHANGES))
    if changes is not None:
        carry[CONNECT_CHANGES] = changes
    parked = _global(live).get(POLL_PARKED)
    if _global(state).get(REPLAY) is True and POLL_PARKED not in _global(state) and parked:
        carry[POLL_PARKED] = copy.deepcopy(parked)
    if not carry:
        return None
    carried = copy.deepcopy(dict(state)) if isinstance(state, Mapping) else {}
    carried["global"] = {**_global(carried), **carry}
    return carried


def accounts_to_purge(config: StripeSourceConfig, backfill: Any, live: Any) -> list[str]:
    """Deauthorized accounts whose rows wait to be purged: none unless the pipeline opted in."""
    if not config.purge_deauthorized:
        return []
    return to_purge(_global(backfill).get(CONNECT_CHANGES), _global(live).get(CONNECT_CHANGES))


def forget_accounts(backfill: Any, live: Any, accounts: Sequence[str]) -> dict[str, Any]:
    """The backfill state after these accounts' rows were purged: the purge recorded, their lanes
    and parked errors gone."""
    forgotten = set(accounts)
    state = copy.deepcopy(dict(backfill)) if isinstance(backfill, Mapping) else {}
    stored = dict(_global(state))
    live_changes = _global(live).get(CONNECT_CHANGES)
    stored[CONNECT_CHANGES] = mark_purged(stored.get(CONNECT_CHANGES), accounts, live_changes)
    errors = stored.get(ACCOUNT_ERRORS)
    if isinstance(errors, Mapping):
        stored[ACCOUNT_ERRORS] = {a: e for a, e in errors.items() if a not in forgotten}
    state["global"] = stored
    streams = state.get("streams")
    if isinstance(streams, Mapping):
        kept = {name: _without(raw, forgotten) for name, raw in streams.items()}
        state["streams"] = {name: raw for name, raw in kept.items() if raw is not None}
    return state


def _without(raw: Any, accounts: set[str]) -> Any:
    """A stream's checkpoint without these accounts' lanes (other shapes are left as they are).

    The other lanes' entries and ranges are kept as stored, and so is ``accounted_range``: a
    finished lane stored as its count ends where it ends (``backfill_state``), so it is not
    narrowed to the lanes left."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("accounts"), Mapping):
        return raw
    try:
        parse_stream_state(raw, platform_account="")  # only a checkpoint is edited
    except StreamStateError:
        return raw
    entries: Mapping[str, Any] = raw["accounts"]
    ranges: list[Mapping[str, Any]] = raw["remaining"]
    unread: list[str] = raw.get("unread", [])
    if not accounts & {*entries, *(part["account"] for part in ranges), *unread}:
        return raw
    kept = {account: entry for account, entry in entries.items() if account not in accounts}
    kept_ranges = [part for part in ranges if part["account"] not in accounts]
    kept_unread = [account for account in unread if account not in accounts]
    if not kept and not kept_ranges and not kept_unread:
        return None
    listed = sum(entry_listed(entry) for entry in kept.values())
    edited = {**raw, "remaining": kept_ranges, "listed": listed, "accounts": kept}
    if "unread" in raw:
        edited["unread"] = kept_unread
    return edited
