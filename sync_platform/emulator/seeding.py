"""Fills a fresh store from a generated dataset (the data of every account, indexed for listing).

The dataset's dicts are shared, never copied: the store is copy-on-write, so any number of
emulators, and every ``reset``, start from one generated dataset. Connected accounts are built on
first use, so a platform of 10,000 accounts starts as fast as one of none.
"""

from __future__ import annotations

from sync_platform.emulator.account_directory import AccountDirectory
from sync_platform.emulator.generator import GeneratedAccount, GeneratedDataset
from sync_platform.emulator.listing import SortedIndex, SortKey
from sync_platform.emulator.objects import StoredObject, reference_id
from sync_platform.emulator.store import AccountData, EmulatorStore, StreamTable
from sync_platform.sources.stripe import stripe_catalog


def build_store(dataset: GeneratedDataset) -> EmulatorStore:
    """The platform built now; connected accounts when first touched (``AccountDirectory``)."""
    accounts = AccountDirectory(
        [build_account(dataset.platform)],
        dataset.connected_ids,
        lambda account_id: build_account(dataset.connected_account(account_id)),
    )
    return EmulatorStore(accounts, platform_account_id=dataset.platform.account_object["id"])


def build_account(generated: GeneratedAccount) -> AccountData:
    tables = {definition.name: StreamTable(definition) for definition in stripe_catalog()}
    account = AccountData(str(generated.account_object["id"]), generated.account_object, tables)
    for name, objects in generated.objects.items():
        table = tables[name]
        keys: list[SortKey] = []
        for data, created in zip(objects, generated.created_times[name], strict=True):
            stored = StoredObject(data, created)
            table.objects[stored.id] = stored
            keys.append(stored.key)
        table.index = SortedIndex(keys)
    for (stream, field_name), by_parent in generated.children.items():
        tables[stream].children[field_name] = dict(by_parent)
    for table in tables.values():
        for spec in table.nested:
            if spec.reference_stream is not None and spec.reference_field is not None:
                account.references[(spec.reference_stream, spec.reference_field)] = _by_parent(
                    tables[spec.reference_stream], spec.reference_field
                )
    return account


def _by_parent(child_table: StreamTable, field_name: str) -> dict[str, SortedIndex]:
    keys_by_parent: dict[str, list[SortKey]] = {}
    for stored in child_table.objects.values():
        parent_id = reference_id(stored.data.get(field_name))
        if parent_id is not None and not stored.deleted:
            keys_by_parent.setdefault(parent_id, []).append(stored.key)
    return {parent_id: SortedIndex(keys) for parent_id, keys in keys_by_parent.items()}
