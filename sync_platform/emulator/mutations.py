"""Creating, updating and deleting objects, each recorded as a Stripe event and sent to webhooks.

Updates merge partial fields the way Stripe's API does (nested hashes merge, ``metadata`` keys set
to ``""`` are removed) and bump ``updated`` where the object has one. A delete leaves a tombstone
(``{"id", "object", "deleted": true}``) for object types Stripe really deletes; a subscription is
canceled instead, since ``customer.subscription.deleted`` reports a cancellation.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sync_platform.emulator.errors import EmulatorError
from sync_platform.emulator.events import ChangeKind, EventSpec, build_event, event_type_for
from sync_platform.emulator.ids import MonotonicIds, random_id
from sync_platform.emulator.listing import SortedIndex
from sync_platform.emulator.objects import StoredObject, reference_id
from sync_platform.emulator.store import AccountData, EmulatorStore, StreamTable
from sync_platform.emulator.values import ObjectSynthesizer
from sync_platform.sources.stripe import stream_for_object
from sync_platform.sources.stripe.id_prefixes import id_prefix
from sync_platform.sources.stripe.sdk_fields import FieldKind

CANCELED_STATUS = "canceled"

# Called with the account and the recorded event; returns how many webhook deliveries it queued.
EventSink = Callable[[AccountData, dict[str, Any]], int]


@dataclass(frozen=True)
class MutationResult:
    """The object as the API now returns it, and the event that reported the change."""

    object: dict[str, Any]
    event: dict[str, Any]


class Mutator:
    """Applies changes to the store and records their events, all under the store's lock."""

    def __init__(
        self, store: EmulatorStore, *, now: Callable[[], int], sink: EventSink, seed: int = 0
    ) -> None:
        self.store = store
        self.now = now
        self.sink = sink
        self.rng = random.Random(f"mutations:{seed}")
        self.event_ids = MonotonicIds("evt_", random.Random(f"events:{seed}"))

    def create(
        self,
        stream: str,
        fields: Mapping[str, Any],
        *,
        account_id: str | None = None,
        event_type: str | None = None,
        request_id: str | None = None,
    ) -> MutationResult:
        with self.store.lock:
            account = self.store.account(account_id)
            table = self.store.table(account, stream)
            definition = table.definition
            kind_of_event = event_type_for(definition, ChangeKind.CREATED, event_type)
            now = self.now()
            fields, children = self._split_nested(table, fields)
            created = int(fields.get("created", now))
            assert definition.sdk_class is not None  # every catalog stream comes from an SDK class
            synthesizer = ObjectSynthesizer(self.rng, lambda references: self._pick(account, references))
            data = synthesizer.build(definition.sdk_class, created=created)
            data.pop("deleted", None)
            data.update(id=random_id(definition.id_prefix, self.rng), object=definition.object_name)
            data.update(fields)
            if definition.has_updated_field and "updated" not in fields:
                data["updated"] = now
            if data["id"] in table.objects:
                raise EmulatorError(
                    f"{definition.object_name} {data['id']!r} already exists; update it instead."
                )
            self._replace_children(table, data["id"], children)
            stored = self._store(account, table, StoredObject(data, created))
            rendered = self.store.render(account, table, stored)
            event = self._record(account, EventSpec(kind_of_event, rendered), request_id)
            return MutationResult(rendered, event)

    def update(
        self,
        stream: str,
        object_id: str,
        fields: Mapping[str, Any],
        *,
        account_id: str | None = None,
        event_type: str | None = None,
        request_id: str | None = None,
    ) -> MutationResult:
        with self.store.lock:
            account = self.store.account(account_id)
            table = self.store.table(account, stream)
            old = self._live(table, object_id)
            kind_of_event = event_type_for(table.definition, ChangeKind.UPDATED, event_type)
            fields, children = self._split_nested(table, fields)
            if "id" in fields and fields["id"] != object_id:
                raise EmulatorError(f"The id of {object_id!r} cannot be changed.")
            data = merge(old.data, fields)
            if table.definition.has_updated_field and "updated" not in fields:
                data["updated"] = max(self.now(), int(old.data.get("updated") or 0))
            previous = previous_attributes(old.data, data)
            self._replace_children(table, object_id, children)
            created = int(fields["created"]) if "created" in fields else old.created
            stored = self._store(account, table, StoredObject(data, created), replacing=old)
            rendered = self.store.render(account, table, stored)
            event = self._record(account, EventSpec(kind_of_event, rendered, previous), request_id)
            return MutationResult(rendered, event)

    def delete(
        self,
        stream: str,
        object_id: str,
        *,
        account_id: str | None = None,
        event_type: str | None = None,
        request_id: str | None = None,
    ) -> MutationResult:
        with self.store.lock:
            account = self.store.account(account_id)
            table = self.store.table(account, stream)
            definition = table.definition
            old = self._live(table, object_id)
            kind_of_event = event_type_for(definition, ChangeKind.DELETED, event_type)
            if not definition.can_be_deleted:
                return self._cancel(account, table, old, kind_of_event, request_id)
            last = self.store.render(account, table, old)
            self._store(account, table, StoredObject(old.data, old.created, deleted=True), replacing=old)
            event = self._record(account, EventSpec(kind_of_event, {**last, "deleted": True}), request_id)
            return MutationResult({"id": object_id, "object": definition.object_name, "deleted": True}, event)

    def _cancel(
        self,
        account: AccountData,
        table: StreamTable,
        old: StoredObject,
        event_type: str,
        request_id: str | None,
    ) -> MutationResult:
        statuses = next((f.type.enum for f in table.definition.fields if f.name == "status"), ())
        if CANCELED_STATUS not in statuses:
            raise EmulatorError(
                f"{table.definition.object_name} objects are never deleted by Stripe and have no canceled "
                "status; update the object instead."
            )
        now = self.now()
        changes: dict[str, Any] = {"status": CANCELED_STATUS}
        changes.update({name: now for name in ("canceled_at", "ended_at") if name in old.data})
        data = merge(old.data, changes)
        stored = self._store(account, table, StoredObject(data, old.created), replacing=old)
        rendered = self.store.render(account, table, stored)
        event = self._record(
            account, EventSpec(event_type, rendered, previous_attributes(old.data, data)), request_id
        )
        return MutationResult(rendered, event)

    def _pick(self, account: AccountData, references: tuple[type, ...]) -> str | None:
        """A random live object for a generated reference, so new objects point at real ones."""
        for reference in references:
            definition = stream_for_object(str(getattr(reference, "OBJECT_NAME", "")))
            table = account.tables.get(definition.name) if definition is not None else None
            if table is not None and table.index.keys:
                return self.rng.choice(table.index.keys)[1]
        return None

    def _live(self, table: StreamTable, object_id: str) -> StoredObject:
        stored = table.live(object_id)
        if stored is None:
            raise EmulatorError(f"No such {table.definition.object_name}: {object_id!r} (or it was deleted).")
        return stored

    def _store(
        self,
        account: AccountData,
        table: StreamTable,
        stored: StoredObject,
        *,
        replacing: StoredObject | None = None,
    ) -> StoredObject:
        """Put ``stored`` in place of ``replacing``, keeping indexes and embedding parents current."""
        parents: set[tuple[str, str]] = set()
        if replacing is not None:
            if not replacing.deleted:
                table.index.remove(replacing.key)
            parents |= self._reindex(account, table, replacing, add=False)
        table.objects[stored.id] = stored
        if not stored.deleted:
            table.index.add(stored.key)
            parents |= self._reindex(account, table, stored, add=True)
        for parent_stream, parent_id in parents:
            self.store.invalidate(account, parent_stream, parent_id)
        return stored

    def _reindex(
        self, account: AccountData, table: StreamTable, stored: StoredObject, *, add: bool
    ) -> set[tuple[str, str]]:
        touched: set[tuple[str, str]] = set()
        for (child_stream, field_name), by_parent in account.references.items():
            if child_stream != table.definition.name:
                continue
            parent_id = reference_id(stored.data.get(field_name))
            if parent_id is None:
                continue
            index = by_parent.setdefault(parent_id, SortedIndex())
            index.add(stored.key) if add else index.remove(stored.key)
            touched.update(
                (parent, parent_id) for parent in self.store.parents_of(account, child_stream, field_name)
            )
        return touched

    def _replace_children(
        self, table: StreamTable, parent_id: str, children: Mapping[str, list[dict[str, Any]]]
    ) -> None:
        for field_name, items in children.items():
            table.children[field_name] = {**table.children[field_name], parent_id: items}

    def _split_nested(
        self, table: StreamTable, fields: Mapping[str, Any]
    ) -> tuple[dict[str, Any], dict[str, list[dict[str, Any]]]]:
        """Separate the items of nested lists the emulator holds itself (``lines``...) from plain fields."""
        plain = dict(fields)
        children: dict[str, list[dict[str, Any]]] = {}
        for field_name in table.children:
            if field_name not in plain:
                continue
            value = plain.pop(field_name)
            items = value.get("data") if isinstance(value, Mapping) else value
            if not isinstance(items, list) or not all(isinstance(item, Mapping) for item in items):
                raise EmulatorError(
                    f"{field_name!r} must be a list of objects (or a list object with `data`)."
                )
            nested = table.definition.nested_list(field_name)
            item_object = nested.item_objects[0] if nested is not None else "object"
            children[field_name] = [
                {"id": random_id(id_prefix(item_object), self.rng), "object": item_object, **item}
                for item in items
            ]
        list_fields = {f.name for f in table.definition.fields if f.type.kind is FieldKind.LIST}
        for field_name in list_fields & plain.keys():
            raise EmulatorError(
                f"{field_name!r} lists other objects; create or update those objects instead."
            )
        return plain, children

    def record(self, account: AccountData, spec: EventSpec, request_id: str | None = None) -> dict[str, Any]:
        """Record an event that no object change made (a Connect authorization) and send it."""
        with self.store.lock:
            return self._record(account, spec, request_id)

    def _record(self, account: AccountData, spec: EventSpec, request_id: str | None) -> dict[str, Any]:
        account_id = account.account_id if account.account_id != self.store.platform_account_id else None
        event = build_event(
            spec,
            event_id=self.event_ids.next(),
            created=self.now(),
            account_id=account_id,
            request_id=request_id,
        )
        account.events.append(event)
        pending = self.sink(account, event)
        if pending:
            account.events.set_pending_webhooks(event["id"], pending)
            event = {**event, "pending_webhooks": pending}
        return event


def merge(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with ``changes`` applied: hashes merge, other values replace; never in place."""
    merged = dict(current)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
            if key == "metadata":  # Stripe removes a metadata key set to ""
                merged[key] = {k: v for k, v in merged[key].items() if v != ""}
        else:
            merged[key] = dict(value) if isinstance(value, Mapping) else value
    return merged


def previous_attributes(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """What changed, as the old values (nested hashes only list their changed keys), like Stripe's."""
    previous: dict[str, Any] = {}
    for key in old.keys() | new.keys():
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            previous[key] = previous_attributes(before, after)
        else:
            previous[key] = before
    return previous
