"""Connected accounts the events poll parked: one account's failure skips that account, not the poll.

**Why.** The poll asks each connected account with its ``Stripe-Account`` header. One account
whose access was revoked (Stripe's 403 ``account_invalid``, before or without the deauthorized
webhook), that no longer exists (404), or that keeps failing after the client's retries used to
fail the whole poll: every stream errored and the pipeline was parked on one account's trouble.
Now such a failure parks that account alone (``park``), as the backfill parks a lane: the window
goes on with the others, their events are applied and the shared cursor advances.

**What is one account's.** A failure of a connected account's list is judged once the window's
other lists are in (``settle``): the platform's own list failing still fails the poll as before
(its error is raised where it happens), and two failures are not one account's:

- a refused key (401) counts as one account's only if the platform's list of the same window
  succeeded with that key; otherwise it is the key, and the read ends as before;
- when every connected account asked in the window (two or more, not counting parked ones a
  replay asks again, which fail as they did before) failed transiently (5xx, no answer, rate
  limited), the trouble is Stripe's or the network's, not theirs: the poll fails and is retried
  whole, rather than parking every account until the next reconcile.

**Nothing is lost: a per-account resume point.** The shared cursor moves past windows a parked
account did not read, so each park keeps ``since``, the first second whose events of the account
were not applied (``poll_parked: {id: {"cause", "failure_kind", "since"}}`` in the live state,
which ``account_status`` shows as ``error`` with its cause). Later polls do not ask a parked
account at all (``poll_scope``): a revoked account would answer 403 every cycle. The reconcile's
replay asks it again (the runner carries the parks into the replay's state), from ``since`` rather
than from the replay window's start, so an account that recovers gets every event it missed,
however long it was parked, within what Stripe keeps (30 days; ``EVENTS_REACH_SECONDS``, with a
warning when it was parked longer, since only a full refresh can bring those changes back). A
replay that reads it through to now lifts the park (``after_replay``); one that fails on it again
renews the cause and keeps how far it got. Webhooks are not affected: a parked account's pushed
events are still applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sync_platform.errors import FailureKind
from sync_platform.sources.stripe.accounts import StripeAccount
from sync_platform.sources.stripe.errors import ErrorScope, StripeApiError, error_scope

POLL_PARKED = "poll_parked"  # live global state: {account id: {"cause", "failure_kind", "since"}}
REPLAY_RETRIED = "replay_retried"  # a replay's throwaway global state: the parked accounts it asked
EVENTS_REACH_SECONDS = 29 * 86_400  # Stripe keeps events 30 days; a day's margin
PASSING_KINDS = (FailureKind.TRANSIENT, FailureKind.RATE_LIMITED)


def parked_accounts(raw: Any) -> dict[str, dict[str, Any]]:
    """The parks of a stored state (malformed entries ignored)."""
    if not isinstance(raw, Mapping):
        return {}
    return {
        str(account): dict(entry)
        for account, entry in raw.items()
        if isinstance(entry, Mapping) and _seconds(entry.get("since"))
    }


@dataclass
class PollParking:
    """The parked accounts during one read of ``/v1/events``: the stored ones (kept while their
    account is still read), this read's, and, in a replay, the parked ones asked again."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    retrying: dict[str, int] = field(default_factory=dict)  # replay: account -> next second to ask
    replaying: bool = False
    stored: bool = False  # the state had parks: it is written back even once they are all lifted
    failed: set[str] = field(default_factory=set)  # parked in this read: not asked again in it
    start: int = 0  # where the walk asks every account from (``begin``)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_global(
        cls, global_: Mapping[str, Any], accounts: Iterable[StripeAccount], *, replaying: bool, now: int
    ) -> PollParking:
        """The parks of ``global_`` for accounts this read covers (an account that left the set
        forgets its park); a replay asks each again from its ``since``."""
        ids = {account.id for account in accounts if account.stripe_account is not None}
        stored = parked_accounts(global_.get(POLL_PARKED))
        parking = cls({a: e for a, e in stored.items() if a in ids}, replaying=replaying, stored=bool(stored))
        if replaying:
            floor = now - EVENTS_REACH_SECONDS
            for account, entry in parking.entries.items():
                parking.retrying[account] = max(entry["since"], floor)
                if entry["since"] < floor:
                    parking.warnings.append(
                        f"Connected account {account} was parked from {_iso(entry['since'])}, longer than "
                        f"Stripe keeps events: its changes before {_iso(floor)} cannot be replayed (a full "
                        "refresh lists them again)."
                    )
        return parking

    def begin(self, position: int) -> int:
        """Where a read's walk starts: ``position`` (where every account is asked from), or earlier
        for a parked account asked again from its resume point."""
        self.start = position
        return min([position, *self.retrying.values()])

    def asks(self, account: StripeAccount, lt: int) -> bool:
        """Whether the window ending before ``lt`` asks ``account``: not if it was parked in this
        read, nor if the window ends before the second it is asked from."""
        return account.id not in self.failed and self.retrying.get(account.id, self.start) < lt

    def settle(
        self, failures: Mapping[str, StripeApiError], asked: Iterable[StripeAccount], gte: int
    ) -> None:
        """Park the connected accounts whose lists of the window ``[gte, …)`` failed, or raise the
        failure that is not theirs alone (see the module's docstring)."""
        if not failures:
            return
        asked = list(asked)
        platform_read = any(account.stripe_account is None for account in asked)
        connected = {account.id for account in asked if account.stripe_account is not None}
        for account, error in failures.items():
            # A refused key shows on the platform's own list; a window that did not read it (a
            # replay's windows before its own start ask only the parked accounts) cannot tell, and
            # a parked account refusing again is what parked it: renewed, never the whole read.
            if (
                error_scope(error) is ErrorScope.CONNECTION
                and not platform_read
                and account not in self.retrying
            ):
                raise error
        # Parked accounts asked again fail as they did before: theirs, not the network's (a replay's
        # windows before its own start ask them alone).
        fresh = connected - set(self.retrying)
        passing = all(error.failure_kind in PASSING_KINDS for error in failures.values())
        if passing and len(fresh) > 1 and set(failures) >= fresh:
            raise next(iter(failures.values()))
        for account, error in failures.items():
            self.failed.add(account)
            since = min(self.entries.get(account, {}).get("since", gte), self.retrying.get(account, gte))
            kind = error.failure_kind
            self.entries[account] = {"cause": str(error), "failure_kind": str(kind), "since": since}
            self.warnings.append(
                f"Connected account {account} is parked ({kind}): its events are skipped "
                f"until a reconcile asks it again; the other accounts go on. {error}"
            )

    def window_read(self, end: int) -> None:
        """Every account asked has been read up to ``end``: a parked one asked again resumes there."""
        for account, second in self.retrying.items():
            if account not in self.failed and second < end:
                self.retrying[account] = end
                self.entries[account]["since"] = end

    def finish(self, until: int) -> None:
        """The walk reached ``until``: a parked account asked again and read through is healthy."""
        for account, second in self.retrying.items():
            if account not in self.failed and second > until:
                self.entries.pop(account, None)

    def state(self) -> dict[str, Any]:
        """The global-state keys to checkpoint (none when nothing was ever parked)."""
        if not (self.entries or self.stored or self.replaying):
            return {}
        state: dict[str, Any] = {POLL_PARKED: {a: dict(e) for a, e in self.entries.items()}}
        if self.replaying:
            state[REPLAY_RETRIED] = sorted(self.retrying)
        return state

    def take_warnings(self) -> tuple[str, ...]:
        taken, self.warnings = tuple(self.warnings), []
        return taken


def after_replay(live: Mapping[str, Any], replayed: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """The live state's parks after a replay, or None when they stay as they are: an account the
    replay asked again takes the replay's verdict (lifted, or parked with its new cause and resume
    point); one the replay parked anew keeps the earlier ``since`` of the two."""
    parks = parked_accounts(live.get(POLL_PARKED))
    verdicts = parked_accounts(replayed.get(POLL_PARKED))
    raw = replayed.get(REPLAY_RETRIED)
    retried = {str(account) for account in raw} if isinstance(raw, list) else set()
    merged = {account: entry for account, entry in parks.items() if account not in retried}
    for account, entry in verdicts.items():
        prior = merged.get(account)  # parked by the poll meanwhile: resume from the earlier second
        merged[account] = entry if prior is None else {**entry, "since": min(entry["since"], prior["since"])}
    return None if merged == parks else merged


def _seconds(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _iso(second: int) -> str:
    return datetime.fromtimestamp(second, UTC).isoformat()
