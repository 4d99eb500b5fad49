"""Optional source capabilities the pipeline runner's lanes need, with safe defaults.

The runner keeps a pipeline current after its backfill (live and poll lanes) and heals drift
(reconcile), but the shape of a source's state is the source's business: where a live read starts
after a backfill (Stripe: the events cursor the backfill recorded when it began), how to ask for a
replay of recent changes and what the live lanes should learn from it (Stripe: which Connect
accounts the events poll must ask), how many objects a finished backfill listed (for row-count
checks), and the status of each account a multi-account source reads (Stripe Connect), for the
CLI, the API and Dagster to show without each parsing the checkpoints.
A source offers these by defining the methods of ``LiveLanes``; the functions here call them when
present and answer "not supported" otherwise, so connectors without live lanes keep working and
no caller ever builds or reads a source's state itself. A multi-account source whose accounts can
leave (a revoked Stripe Connect account) also offers the methods of ``DepartingAccounts``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from sync_platform.protocol import SourceState


@runtime_checkable
class LiveLanes(Protocol):
    def live_state(self, backfill: SourceState | None) -> SourceState | None:
        """Where the first incremental read after this backfill starts; None = from scratch."""
        ...

    def replay_state(self, now: datetime) -> SourceState | None:
        """A throwaway state that re-reads the recent changes (the source picks how far back);
        None = the source cannot replay."""
        ...

    def after_replay(self, live: SourceState, replayed: SourceState, now: datetime) -> SourceState | None:
        """What a replay teaches the live lanes: the live state to save (changed only in the
        source's own bookkeeping, never where the live read resumes; Stripe: which connected
        accounts the events poll must ask), or None when nothing changes."""
        ...

    def listed_count(self, stream_state: Any) -> int | None:
        """How many objects a backfill listed so far, read from one stream's checkpoint."""
        ...

    def account_status(self, backfill: Any, live: Any) -> dict[str, Any] | None:
        """Per-account status from the backfill and live source states (their ``source`` parts):
        ``{total, healthy, counts: {status: n}, accounts: {id: {status, ...}}}``; None = one account."""
        ...


def live_state(source: object, backfill: SourceState | None) -> SourceState | None:
    method = getattr(source, "live_state", None)
    return method(backfill) if callable(method) else None


def replay_state(source: object, now: datetime) -> SourceState | None:
    method = getattr(source, "replay_state", None)
    return method(now) if callable(method) else None


def after_replay(
    source: object, live: SourceState, replayed: SourceState, now: datetime
) -> SourceState | None:
    method = getattr(source, "after_replay", None)
    return method(live, replayed, now) if callable(method) else None


def listed_count(source: object, stream_state: Any) -> int | None:
    method = getattr(source, "listed_count", None)
    return method(stream_state) if callable(method) else None


def account_status(source: object, backfill: Any, live: Any) -> dict[str, Any] | None:
    method = getattr(source, "account_status", None)
    return method(backfill, live) if callable(method) else None


class DepartingAccounts(Protocol):
    """What the runner asks a multi-account source about accounts that left (Stripe Connect).

    Every state is a source state as JSON (a checkpoint's ``source`` part). The live lane learns
    that an account left; the backfill's and the reconcile's reads start from other states, so the
    runner carries the live lane's account changes into them. A pipeline that opted in has a
    departed account's rows purged from the destination, which the backfill checkpoint records.
    """

    def with_account_changes(self, state: Any, live: Any) -> Any:
        """``state`` with what ``live`` knows of accounts joining and leaving; None = nothing new."""
        ...

    def accounts_to_purge(self, config: dict[str, Any], backfill: Any, live: Any) -> list[str]:
        """The accounts whose rows should leave the destination now (none unless opted in)."""
        ...

    def forget_accounts(self, backfill: Any, live: Any, accounts: list[str]) -> Any:
        """The backfill state once these accounts' rows are purged: the purge recorded (not
        repeated), their progress forgotten (an account back is backfilled from scratch)."""
        ...


def with_account_changes(source: object, state: Any, live: Any) -> Any:
    """``state`` with the live state's account changes carried in; None when there are none."""
    method = getattr(source, "with_account_changes", None)
    return method(state, live) if callable(method) else None


def accounts_to_purge(source: object, config: dict[str, Any], backfill: Any, live: Any) -> list[str]:
    method = getattr(source, "accounts_to_purge", None)
    return list(method(config, backfill, live)) if callable(method) else []


def forget_accounts(source: object, backfill: Any, live: Any, accounts: list[str]) -> Any:
    method = getattr(source, "forget_accounts", None)
    return method(backfill, live, accounts) if callable(method) else backfill
