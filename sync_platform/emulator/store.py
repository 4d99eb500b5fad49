"""The emulator's data: per account, one table per stream, nested lists, events and webhook endpoints.

Objects are copy-on-write: a mutation stores a new ``StoredObject`` rather than changing one, so a
generated dataset can be shared by many emulators (and restored by ``reset``) without copying, and
each object's JSON can be cached in ``body`` until the object or its embedded lists change. A list
page is then the cached bodies of its objects joined together.
"""

from __future__ import annotations

import functools
import threading
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_platform.emulator.account_directory import AccountDirectory
from sync_platform.emulator.errors import ApiError, resource_missing
from sync_platform.emulator.event_log import EventLog
from sync_platform.emulator.listing import PageRequest, SortedIndex, SortKey, select_page
from sync_platform.emulator.objects import StoredObject, dumps, list_body, reference_id
from sync_platform.sources.stripe import (
    NestedListDefinition,
    StripeStreamDefinition,
    UnknownStripeStreamError,
    stream_for_object,
)

NESTED_PAGE_SIZE = 10
# Stripe embeds a nested list when its field is always present (invoice.lines, subscription.items);
# charge refunds and checkout line items are only sent on `expand[]`, which the emulator applies by
# default so the source's nested-list handling is always exercised.
EMBEDDED_BY_DEFAULT = frozenset({("charge", "refunds"), ("checkout_session", "line_items")})


@dataclass(frozen=True)
class NestedListSpec:
    """How the emulator holds one nested list: its own items, or objects of another stream."""

    definition: NestedListDefinition
    embedded: bool
    reference_stream: str | None = None  # items are objects of this stream...
    reference_field: str | None = None  # ...whose field with this name holds the parent's id


@functools.cache
def nested_specs(definition: StripeStreamDefinition) -> tuple[NestedListSpec, ...]:
    """How each nested list of a stream is held, and whether it is embedded in its parent.

    Items are objects of another stream when that stream's objects name their parent (a refund has
    ``charge``), and are otherwise kept per parent (invoice lines).
    """
    specs: list[NestedListSpec] = []
    nullable = {f.name: f.type.nullable for f in definition.fields}
    parent_field = definition.object_name.rsplit(".", 1)[-1]
    for nested in definition.nested_lists:
        embedded = (
            not nullable.get(nested.field, True) or (definition.name, nested.field) in EMBEDDED_BY_DEFAULT
        )
        item_stream = stream_for_object(nested.item_objects[0]) if len(nested.item_objects) == 1 else None
        if item_stream is not None and any(f.name == parent_field for f in item_stream.fields):
            specs.append(NestedListSpec(nested, embedded, item_stream.name, parent_field))
        else:
            specs.append(NestedListSpec(nested, embedded))
    return tuple(specs)


class StreamTable:
    """Every object of one stream in one account, live ones in Stripe's list order."""

    def __init__(self, definition: StripeStreamDefinition) -> None:
        self.definition = definition
        self.nested = nested_specs(definition)
        self.objects: dict[str, StoredObject] = {}  # tombstones included, so cursors on them still work
        self.index = SortedIndex()
        self.children: dict[str, dict[str, list[dict[str, Any]]]] = {
            spec.definition.field: {} for spec in self.nested if spec.reference_stream is None
        }

    def live(self, object_id: str) -> StoredObject | None:
        stored = self.objects.get(object_id)
        return stored if stored is not None and not stored.deleted else None


@dataclass
class AccountData:
    """One Stripe account's objects, events and webhook endpoints."""

    account_id: str
    account_object: dict[str, Any]
    tables: dict[str, StreamTable]
    events: EventLog = field(default_factory=EventLog)
    webhook_endpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (child stream, field) -> parent id -> the children's keys, e.g. refunds by charge
    references: dict[tuple[str, str], dict[str, SortedIndex]] = field(default_factory=dict)


class EmulatorStore:
    """All accounts' data behind one lock (handlers run on the server loop, admin calls anywhere)."""

    def __init__(self, accounts: Mapping[str, AccountData], platform_account_id: str) -> None:
        self.lock = threading.RLock()
        self.accounts: AccountDirectory = (
            accounts
            if isinstance(accounts, AccountDirectory)
            else AccountDirectory(accounts.values(), (), lambda account_id: accounts[account_id])
        )
        self.platform_account_id = platform_account_id

    def account(self, account_id: str | None) -> AccountData:
        account = self.accounts.get(account_id or self.platform_account_id)
        if account is None:
            raise ApiError(
                403,
                f"The provided key does not have access to account '{account_id}' (or that account does "
                "not exist). Application access may have been revoked.",
                code="account_invalid",
            )
        return account

    def table(self, account: AccountData, stream: str) -> StreamTable:
        try:
            return account.tables[stream]
        except KeyError:
            raise UnknownStripeStreamError(stream, account.tables) from None

    # Rendering ------------------------------------------------------------------------------------

    def render(self, account: AccountData, table: StreamTable, stored: StoredObject) -> dict[str, Any]:
        """The object as the API returns it: stored fields plus embedded first pages of nested lists."""
        if stored.deleted:
            return {"id": stored.id, "object": stored.data.get("object"), "deleted": True}
        embedded = [spec for spec in table.nested if spec.embedded]
        if not embedded:
            return stored.data
        data = dict(stored.data)
        for spec in embedded:
            items, has_more = self._nested_items(
                account, table, spec, stored.id, PageRequest(NESTED_PAGE_SIZE)
            )
            data[spec.definition.field] = {
                "object": "list",
                "data": items,
                "has_more": has_more,
                "url": nested_url(spec.definition, stored.id),
            }
        return data

    def body(self, account: AccountData, table: StreamTable, stored: StoredObject) -> bytes:
        if stored.body is None:
            stored.body = dumps(self.render(account, table, stored))
        return stored.body

    # Reads ----------------------------------------------------------------------------------------

    def retrieve(self, account: AccountData, table: StreamTable, object_id: str) -> bytes:
        stored = table.objects.get(object_id)
        if stored is None:
            raise resource_missing(table.definition.object_name, object_id)
        return self.body(account, table, stored)

    def list_page(
        self,
        account: AccountData,
        table: StreamTable,
        request: PageRequest,
        *,
        filters: Mapping[str, str | frozenset[str]],
        excluded: Mapping[str, frozenset[str]] | None = None,
        url: str,
    ) -> bytes:
        """One page of a top-level list, as the JSON bytes of a Stripe list object.

        ``filters`` keep objects whose field equals the value (or is one of a set of values);
        ``excluded`` drops objects whose field is one of the given values.
        """
        index = self._filtered_index(account, table, filters, excluded or {})
        keys, has_more = select_page(index, request, cursor_key=self._cursor_key(table, request))
        bodies = [self.body(account, table, table.objects[object_id]) for _, object_id in keys]
        return list_body(bodies, has_more=has_more, url=url)

    def nested_page(
        self, account: AccountData, table: StreamTable, field_name: str, parent_id: str, request: PageRequest
    ) -> bytes:
        spec = next((s for s in table.nested if s.definition.field == field_name), None)
        if spec is None:
            raise ApiError(404, f"{table.definition.object_name} has no list {field_name!r}.")
        if table.live(parent_id) is None:
            raise resource_missing(table.definition.object_name, parent_id)
        items, has_more = self._nested_items(account, table, spec, parent_id, request)
        return list_body(
            [dumps(item) for item in items], has_more=has_more, url=nested_url(spec.definition, parent_id)
        )

    def _nested_items(
        self,
        account: AccountData,
        table: StreamTable,
        spec: NestedListSpec,
        parent_id: str,
        request: PageRequest,
    ) -> tuple[list[dict[str, Any]], bool]:
        if spec.reference_stream is not None and spec.reference_field is not None:
            child_table = account.tables[spec.reference_stream]
            index = account.references.get((spec.reference_stream, spec.reference_field), {}).get(parent_id)
            keys, has_more = select_page(
                index or SortedIndex(), request, cursor_key=self._cursor_key(child_table, request)
            )
            return [self.render(account, child_table, child_table.objects[i]) for _, i in keys], has_more
        items = table.children[spec.definition.field].get(parent_id, [])
        return _page_of_items(items, request)

    def _cursor_key(self, table: StreamTable, request: PageRequest) -> SortKey | None:
        cursor = request.starting_after or request.ending_before
        if cursor is None:
            return None
        stored = table.objects.get(cursor)
        if stored is None:
            param = "starting_after" if request.starting_after else "ending_before"
            raise resource_missing(table.definition.object_name, cursor, param=param)
        return stored.key

    def _filtered_index(
        self,
        account: AccountData,
        table: StreamTable,
        filters: Mapping[str, str | frozenset[str]],
        excluded: Mapping[str, frozenset[str]],
    ) -> SortedIndex:
        if not filters and not excluded:
            return table.index
        if len(filters) == 1 and not excluded:
            ((name, value),) = filters.items()
            by_parent = account.references.get((table.definition.name, name))
            if by_parent is not None and isinstance(value, str):
                return by_parent.get(value) or SortedIndex()
        keys = []
        for key in table.index.keys:
            data = table.objects[key[1]].data
            if all(_field_matches(data.get(n), v) for n, v in filters.items()) and not any(
                _field_matches(data.get(n), v) for n, v in excluded.items()
            ):
                keys.append(key)
        return SortedIndex(keys)

    # Changes --------------------------------------------------------------------------------------

    def parents_of(self, account: AccountData, child_stream: str, field_name: str) -> list[str]:
        """Streams embedding ``child_stream`` objects found by their ``field_name`` (charge <- refund)."""
        return [
            table.definition.name
            for table in account.tables.values()
            if any(
                s.reference_stream == child_stream and s.reference_field == field_name for s in table.nested
            )
        ]

    def invalidate(self, account: AccountData, stream: str, object_id: str) -> None:
        """Drop the cached JSON of one object, whose embedded lists changed."""
        table = account.tables[stream]
        stored = table.objects.get(object_id)
        if stored is not None and stored.body is not None:
            table.objects[object_id] = StoredObject(stored.data, stored.created, stored.deleted)


def nested_url(nested: NestedListDefinition, parent_id: str) -> str | None:
    request = nested.request_for(parent_id)
    if request is None:
        return None
    path, query = request
    return f"{path}?{urllib.parse.urlencode(query)}" if query else path


def _page_of_items(items: list[dict[str, Any]], request: PageRequest) -> tuple[list[dict[str, Any]], bool]:
    """A page of a nested list kept in API order (cursors by position, as Stripe's line items)."""
    positions = {item.get("id"): position for position, item in enumerate(items)}
    if request.starting_after is not None:
        if request.starting_after not in positions:
            raise resource_missing("object", request.starting_after, param="starting_after")
        start = positions[request.starting_after] + 1
        return items[start : start + request.limit], start + request.limit < len(items)
    if request.ending_before is not None:
        if request.ending_before not in positions:
            raise resource_missing("object", request.ending_before, param="ending_before")
        stop = positions[request.ending_before]
        return items[max(0, stop - request.limit) : stop], stop - request.limit > 0
    return items[: request.limit], request.limit < len(items)


def _field_matches(value: Any, wanted: str | frozenset[str]) -> bool:
    if isinstance(wanted, frozenset):
        return any(_field_matches(value, one) for one in wanted)
    if isinstance(value, bool):
        return str(value).lower() == wanted.lower()
    identifier = reference_id(value)
    if identifier is not None:
        return identifier == wanted
    return value is not None and str(value) == wanted
