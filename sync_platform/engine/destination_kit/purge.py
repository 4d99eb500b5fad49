"""Removing one account's rows: the optional ``purge_account`` hook.

A source that reads several accounts (Stripe Connect) can lose one: its access is revoked
(``account.application.deauthorized``). Its rows are then no longer kept current, and a platform
may be obliged to delete what it holds of that account. A pipeline that opted in
(``purge_deauthorized``) has the pipeline runner call this hook once per departed account; which
accounts and when is the runner's decision (``pipelines/runner/departed_accounts.py``), how to
find and remove the rows is the destination's.

Rows are recognised by the ``_account_id`` every record carries. Remembered deletes (tombstones)
of the account stay: they only stop a late, older version of a deleted object from coming back,
which stays right if the account is authorized again and backfilled anew, and retention prunes
them like any other.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

ACCOUNT_FIELD = "_account_id"
"""The record field (and column) that says which account a row belongs to."""


@runtime_checkable
class PurgesAccounts(Protocol):
    """The optional destination hook: remove every row of one account."""

    def purge_account(self, config: dict[str, Any], account_id: str) -> int:
        """Remove every row whose ``_account_id`` is ``account_id``, in every stream; return how many.

        Blocking; called only while no write runs for the pipeline (the runner holds the pipeline's
        run lock). Idempotent: a second call removes nothing and returns 0; a destination never set
        up holds no rows and returns 0. Rows of other accounts are never touched.
        """
        ...


def purge_account(destination: object, config: dict[str, Any], account_id: str) -> int | None:
    """The rows of ``account_id`` removed from ``destination``; None when it cannot remove them."""
    if isinstance(destination, PurgesAccounts):
        return destination.purge_account(config, account_id)
    return None
