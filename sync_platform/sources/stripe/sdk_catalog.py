"""The catalog read from the installed ``stripe`` SDK: the rules of ``catalog`` applied to it.

Walking every service for its list endpoints, every event type for its object and every object
class for its typed fields costs about a second of CPU, and importing the SDK to do it ~0.25 s
more. A command pays neither while the committed index (``catalog_index``) matches the installed
release, so ``catalog`` imports this module only when it does not, and the index's generator and
its test import it to compare.
"""

from __future__ import annotations

from sync_platform.sources.stripe.catalog import EXCLUDED_OBJECTS, stream_name
from sync_platform.sources.stripe.field_model import FieldDefinition, FieldKind
from sync_platform.sources.stripe.id_prefixes import id_prefix
from sync_platform.sources.stripe.json_schema import record_schema
from sync_platform.sources.stripe.sdk_endpoints import ListEndpoint, list_endpoints
from sync_platform.sources.stripe.sdk_events import event_object_names
from sync_platform.sources.stripe.sdk_fields import object_fields
from sync_platform.sources.stripe.sdk_source import class_summary
from sync_platform.sources.stripe.stream_definitions import (
    NestedListDefinition,
    StripeStreamDefinition,
    class_path,
)


def build_catalog() -> tuple[StripeStreamDefinition, ...]:
    """Every syncable stream, read from the installed SDK (the rules are in ``catalog``'s docstring)."""
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
