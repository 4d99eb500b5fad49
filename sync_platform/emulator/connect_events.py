"""Connect accounts joining, changing and leaving a platform: ``account.application.authorized``,
``account.updated`` and ``account.application.deauthorized``, as Stripe reports them to the
platform's Connect endpoints.

Authorizing adds an account (with generated history, as a Standard account that connects brings
its existing data) to the platform's ``/v1/accounts`` and sends the event; deauthorizing sends
the event, then the account is gone: ``/v1/accounts`` leaves it out and any request with its
``Stripe-Account`` header is Stripe's 403 ("Application access may have been revoked"), which is
what a sync must park the account on. Both events carry the account in ``account`` and the
platform's application in ``data.object``, as Stripe's do. Updating an account's metadata
changes it in ``/v1/accounts`` and ``/v1/account`` alike and sends ``account.updated`` with the
account in ``data.object`` and the old values in ``data.previous_attributes``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sync_platform.emulator.connected import account_object
from sync_platform.emulator.errors import EmulatorError
from sync_platform.emulator.events import EventSpec
from sync_platform.emulator.generator import DatasetConfig
from sync_platform.emulator.ids import random_id
from sync_platform.emulator.mutations import MutationResult, Mutator, merge, previous_attributes
from sync_platform.emulator.objects import StoredObject
from sync_platform.emulator.store import EmulatorStore

AUTHORIZED = "account.application.authorized"
UPDATED = "account.updated"
DEAUTHORIZED = "account.application.deauthorized"
APPLICATION: dict[str, Any] = {
    "id": "ca_syncplatformemulator",
    "object": "application",
    "name": "sync_platform",
}


def authorize(
    store: EmulatorStore, mutator: Mutator, config: DatasetConfig, account_id: str | None = None
) -> MutationResult:
    """Connect an account to the platform (a new one unless ``account_id`` names one to re-add)."""
    with store.lock:
        account_id = account_id or random_id("acct_", mutator.rng, 16)
        if account_id in store.accounts:
            raise EmulatorError(f"Account {account_id!r} is already connected to the platform.")
        store.accounts.add_lazy(account_id)
        data = account_object(config, account_id)
        table = store.table(store.account(None), "account")
        stored = StoredObject(data, int(data["created"]))
        table.objects[account_id] = stored
        table.index.add(stored.key)
        event = mutator.record(store.account(account_id), EventSpec(AUTHORIZED, APPLICATION))
        return MutationResult(data, event)


def deauthorize(store: EmulatorStore, mutator: Mutator, account_id: str) -> MutationResult:
    """Disconnect an account: the event is sent, then the platform can no longer reach it."""
    with store.lock:
        if account_id == store.platform_account_id or account_id not in store.accounts:
            raise EmulatorError(f"Account {account_id!r} is not a connected account of the platform.")
        event = mutator.record(store.account(account_id), EventSpec(DEAUTHORIZED, APPLICATION))
        del store.accounts[account_id]
        table = store.table(store.account(None), "account")
        stored = table.objects.get(account_id)
        if stored is not None:
            table.index.remove(stored.key)
            del table.objects[account_id]
        return MutationResult(dict(stored.data) if stored is not None else {"id": account_id}, event)


def update_account(
    store: EmulatorStore, mutator: Mutator, account_id: str, metadata: Mapping[str, Any]
) -> MutationResult:
    """Merge ``metadata`` into a connected account's (a key set to ``""`` is removed, as Stripe
    does) and send ``account.updated`` to the platform's Connect endpoints."""
    with store.lock:
        if account_id == store.platform_account_id or account_id not in store.accounts:
            raise EmulatorError(f"Account {account_id!r} is not a connected account of the platform.")
        table = store.table(store.account(None), "account")
        old = table.live(account_id)
        if old is None:
            raise EmulatorError(f"Account {account_id!r} is not listed by the platform.")
        data = merge(old.data, {"metadata": dict(metadata)})
        previous = previous_attributes(old.data, data)
        table.index.remove(old.key)
        stored = StoredObject(data, old.created)
        table.objects[account_id] = stored
        table.index.add(stored.key)
        connected = store.account(account_id)
        connected.account_object = merge(connected.account_object, {"metadata": dict(metadata)})
        event = mutator.record(connected, EventSpec(UPDATED, data, previous))
        return MutationResult(data, event)
