"""Every account the emulator serves, each built the first time a request or a test touches it.

A platform with 10,000 connected accounts must start at once and hold only what was used, so
the directory knows every account's id up front and builds an account's tables (from its
generated data) on first access. Iterating yields ids without building anything; ``loaded``
gives the accounts built so far, which is all that can have events, endpoints or changes.
Accounts are added when authorized and removed when deauthorized (``connect_events``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store module builds a directory; only the type is needed here
    from sync_platform.emulator.store import AccountData

AccountFactory = Callable[[str], "AccountData"]


class AccountDirectory(MutableMapping[str, "AccountData"]):
    """Account id -> its data, built lazily by ``factory``; callers hold the store's lock."""

    def __init__(
        self, built: Iterable[AccountData], lazy_ids: Iterable[str], factory: AccountFactory
    ) -> None:
        self._built: dict[str, AccountData] = {account.account_id: account for account in built}
        self._ids: dict[str, None] = dict.fromkeys([*self._built, *lazy_ids])
        self._factory = factory

    def __getitem__(self, account_id: str) -> AccountData:
        account = self._built.get(account_id)
        if account is None:
            if account_id not in self._ids:
                raise KeyError(account_id)
            account = self._built[account_id] = self._factory(account_id)
        return account

    def __setitem__(self, account_id: str, account: AccountData) -> None:
        self._ids[account_id] = None
        self._built[account_id] = account

    def __delitem__(self, account_id: str) -> None:
        del self._ids[account_id]
        self._built.pop(account_id, None)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._ids))

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, account_id: object) -> bool:
        return account_id in self._ids

    def add_lazy(self, account_id: str) -> None:
        """Know ``account_id``; its data is built when first used."""
        self._ids[account_id] = None

    def loaded(self) -> list[AccountData]:
        """The accounts built so far (only these can hold events, endpoints or changes)."""
        return list(self._built.values())
