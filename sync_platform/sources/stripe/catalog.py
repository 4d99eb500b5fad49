"""The Stripe streams, derived from the installed ``stripe`` SDK at its pinned API version.

A stream is a v1 resource that (1) has a top-level ``list`` endpoint needing no parameter beyond
paging (``limit``, ``starting_after``, ``ending_before``, ``created``, ``expand``), and (2) is the
object of at least one webhook event type, because only those can be kept current after the
backfill. Everything about a stream (list path, capabilities, events, nested lists, schema) is read
from the SDK; the only hand-kept facts are the two small tables below and the id prefixes.
An upgrade of ``stripe`` therefore changes the catalog, and the snapshot test shows the diff.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

import stripe

from sync_platform.errors import FailureKind, SyncPlatformError, did_you_mean
from sync_platform.protocol import CatalogPayload
from sync_platform.sources.stripe.id_prefixes import id_prefix
from sync_platform.sources.stripe.json_schema import record_schema
from sync_platform.sources.stripe.sdk_endpoints import ListEndpoint, list_endpoints
from sync_platform.sources.stripe.sdk_events import event_object_names
from sync_platform.sources.stripe.sdk_fields import FieldDefinition, FieldKind, object_fields
from sync_platform.sources.stripe.sdk_source import class_summary
from sync_platform.sources.stripe.stream_definitions import (
    API_VERSION,
    PRIMARY_KEY,
    NestedListDefinition,
    StripeStreamDefinition,
    class_path,
)

__all__ = [
    "API_VERSION",
    "EXCLUDED_OBJECTS",
    "PRIMARY_KEY",
    "STREAM_NAME_ALIASES",
    "NestedListDefinition",
    "StripeStreamDefinition",
    "UnknownStripeStreamError",
    "build_catalog",
    "catalog_payload",
    "stream_by_name",
    "stream_for_object",
    "stream_name",
    "stripe_catalog",
]

# Stream names are object names with "." -> "_", except where the reference system (and users'
# existing tables) use a shorter name.
STREAM_NAME_ALIASES: Mapping[str, str] = {"radar.early_fraud_warning": "early_fraud_warning"}

# Objects that pass the rules but cannot be listed on their own in practice.
EXCLUDED_OBJECTS: Mapping[str, str] = {
    "billing.credit_balance_transaction": (
        "the API requires `customer` or `customer_account` although the SDK marks neither as required"
    ),
}


class UnknownStripeStreamError(SyncPlatformError, LookupError):
    """A stream name that is not in the installed SDK's catalog (the pipeline's config names it)."""

    failure_kind = FailureKind.CONFIG

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name, self.known = name, sorted(known)
        super().__init__(
            f"Stream {name!r} is not in the Stripe catalog of stripe {stripe.VERSION} "
            f"(API {API_VERSION}).{did_you_mean(name, self.known)} Pick one of the streams that "
            "`sync-platform streams` lists, or upgrade `stripe` if the object type is new."
        )


def stream_name(object_name: str) -> str:
    """``checkout.session`` -> ``checkout_session`` (with the aliases in ``STREAM_NAME_ALIASES``)."""
    return STREAM_NAME_ALIASES.get(object_name, object_name.replace(".", "_"))


@functools.cache
def _catalog() -> tuple[StripeStreamDefinition, ...]:
    """The committed index when it was built from the installed SDK, else the SDK read now (~1 s)."""
    from sync_platform.sources.stripe import catalog_index  # imported here: it is also a script

    return catalog_index.load(stripe.VERSION) or build_catalog()


def build_catalog() -> tuple[StripeStreamDefinition, ...]:
    """Every syncable stream, read from the installed SDK (see the module docstring)."""
    candidates: dict[str, ListEndpoint] = {}
    for endpoint in list_endpoints():
        if endpoint.is_syncable_alone and len(endpoint.item_classes) == 1:
            object_name = getattr(endpoint.item_classes[0], "OBJECT_NAME", None)
            if isinstance(object_name, str) and object_name not in EXCLUDED_OBJECTS:
                candidates.setdefault(object_name, endpoint)  # the first path per object wins
    events_by_object: dict[str, list[str]] = {}
    for event_type, object_name in event_object_names(candidates).items():
        events_by_object.setdefault(object_name, []).append(event_type)
    return tuple(
        _define(object_name, endpoint, sorted(events_by_object[object_name]))
        for object_name, endpoint in candidates.items()
        if object_name in events_by_object
    )


def _define(object_name: str, endpoint: ListEndpoint, event_types: list[str]) -> StripeStreamDefinition:
    sdk_class = endpoint.item_classes[0]
    fields = object_fields(sdk_class)
    field_names = {f.name for f in fields}
    can_be_deleted = "deleted" in field_names
    description = class_summary(sdk_class)
    definition = StripeStreamDefinition(
        name=stream_name(object_name),
        object_name=object_name,
        list_path=endpoint.path,
        id_prefix=id_prefix(object_name),
        supports_created_filter="created" in endpoint.params,
        supports_pagination="starting_after" in endpoint.params,
        supports_ending_before="ending_before" in endpoint.params,
        supports_limit="limit" in endpoint.params,
        list_params=endpoint.params,
        event_types=tuple(event_types),
        # `customer.subscription.deleted` reports a canceled subscription that still exists; only
        # objects that can come back as `{"deleted": true}` are really gone after `*.deleted`.
        deletion_event_types=tuple(t for t in event_types if can_be_deleted and t.endswith(".deleted")),
        can_be_deleted=can_be_deleted,
        has_updated_field="updated" in field_names,
        nested_lists=_nested_lists(object_name, endpoint, fields),
        list_defaults=_list_defaults(endpoint),
        description=description,
        json_schema=record_schema(fields, description=description),
        has_created_field="created" in field_names,
        sdk_class_path=class_path(sdk_class),
    )
    definition.__dict__.update(sdk_class=sdk_class, fields=fields)  # already at hand: no second read
    return definition


def _list_defaults(endpoint: ListEndpoint) -> dict[str, str]:
    """``status=all`` where the list's ``status`` parameter offers ``all``: some lists (subscriptions)
    leave objects in a final status out unless asked, and a backfill needs every object."""
    return {"status": "all"} if "all" in endpoint.param_choices.get("status", frozenset()) else {}


def _nested_lists(
    object_name: str, parent: ListEndpoint, fields: tuple[FieldDefinition, ...]
) -> tuple[NestedListDefinition, ...]:
    nested: list[NestedListDefinition] = []
    for f in fields:
        if f.type.kind is not FieldKind.LIST or f.type.item is None:
            continue
        item_classes = f.type.item.references
        item_objects = tuple(str(getattr(cls, "OBJECT_NAME", cls.__name__)) for cls in item_classes)
        nested.append(
            _nested_list_path(object_name, parent, f.name, item_classes)
            or NestedListDefinition(field=f.name, item_objects=item_objects, list_path=None)
        )
    return tuple(nested)


def _nested_list_path(
    object_name: str, parent: ListEndpoint, field_name: str, item_classes: tuple[type, ...]
) -> NestedListDefinition | None:
    """Where further pages of ``parent.<field_name>`` come from, per the SDK's list endpoints."""
    item_objects = tuple(str(getattr(cls, "OBJECT_NAME", cls.__name__)) for cls in item_classes)
    parent_param = object_name.rsplit(".", 1)[-1]
    for endpoint in list_endpoints():
        if set(endpoint.item_classes) != set(item_classes):
            continue
        segments = endpoint.path.split("/")
        under_parent = endpoint.path.startswith(f"{parent.path}/{{") and len(endpoint.path_params) == 1
        if under_parent and segments[-1] == field_name:
            path = endpoint.path.replace(f"{{{endpoint.path_params[0]}}}", "{id}")
            return NestedListDefinition(field=field_name, item_objects=item_objects, list_path=path)
        if endpoint.is_top_level and parent_param in endpoint.params:
            return NestedListDefinition(
                field=field_name,
                item_objects=item_objects,
                list_path=endpoint.path,
                parent_param=parent_param,
            )
    return None


def stripe_catalog() -> list[StripeStreamDefinition]:
    """Every syncable stream, in the SDK's service order (computed once per process)."""
    return list(_catalog())


@functools.cache
def _by_name() -> dict[str, StripeStreamDefinition]:
    return {definition.name: definition for definition in _catalog()}


@functools.cache
def _by_object() -> dict[str, StripeStreamDefinition]:
    return {definition.object_name: definition for definition in _catalog()}


def stream_by_name(name: str) -> StripeStreamDefinition:
    """The stream called ``name``; an unknown name raises an error that suggests the closest one."""
    try:
        return _by_name()[name]
    except KeyError:
        raise UnknownStripeStreamError(name, _by_name()) from None


def stream_for_object(object_name: str) -> StripeStreamDefinition | None:
    """The stream of a Stripe object (``event.data.object.object``), or None if it is not synced."""
    return _by_object().get(object_name)


def catalog_payload(account_ids: list[str] | None, streams: Iterable[str] | None = None) -> CatalogPayload:
    """The protocol catalog for the given accounts (``_account_id`` admits exactly those ids; any
    account when ``account_ids`` is None, for a catalog read before the account is known)."""
    definitions = [stream_by_name(name) for name in streams] if streams is not None else list(_catalog())
    return CatalogPayload(streams=[definition.to_stream(account_ids) for definition in definitions])
