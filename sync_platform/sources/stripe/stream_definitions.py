"""What one Stripe stream is: its list endpoint, capabilities, events, nested lists and schema.

Built from the SDK by ``sdk_catalog`` (or read back from the committed ``catalog_index.json`` for
the pinned SDK); the SDK class and its field definitions are resolved only when something asks for
them, so a sync, which needs neither, never imports the ``stripe`` SDK.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync_platform.protocol import Stream
from sync_platform.sources.stripe import sdk_release
from sync_platform.sources.stripe.field_model import FieldDefinition
from sync_platform.sources.stripe.json_schema import UPDATED_AT_FIELD, stamp_account_ids

# the release's pinned version, as the committed index records it: no import of the SDK for it
API_VERSION: str = sdk_release.api_version()
PRIMARY_KEY = [["id"], ["_account_id"]]


def class_path(cls: type) -> str:
    """``module:qualname`` of a class, as ``StripeStreamDefinition.sdk_class_path`` holds it."""
    return f"{cls.__module__}:{cls.__qualname__}"


@dataclass(frozen=True)
class NestedListDefinition:
    """A property holding a Stripe list object that the API paginates (``invoice.lines``).

    The embedded value carries the first page only; the rest comes from ``list_path``, either a
    sub-path of the parent (``/v1/invoices/{id}/lines``) or a top-level list filtered by the parent
    (``/v1/subscription_items?subscription={id}``, given by ``parent_param``). ``list_path`` is None
    when the SDK offers no way to fetch further pages.
    """

    field: str
    item_objects: tuple[str, ...]
    list_path: str | None
    parent_param: str | None = None

    def request_for(self, parent_id: str) -> tuple[str, dict[str, str]] | None:
        """``(path, query)`` of the first page of this list for one parent object."""
        if self.list_path is None:
            return None
        if self.parent_param is not None:
            return self.list_path, {self.parent_param: parent_id}
        return self.list_path.replace("{id}", parent_id), {}

    def as_metadata(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "item_objects": list(self.item_objects),
            "list_path": self.list_path,
            "parent_param": self.parent_param,
        }


@dataclass(frozen=True)
class StripeStreamDefinition:
    """One syncable Stripe object type and what its list endpoint can do."""

    name: str
    object_name: str
    list_path: str
    id_prefix: str
    supports_created_filter: bool
    supports_pagination: bool
    supports_ending_before: bool
    supports_limit: bool
    list_params: frozenset[str]
    event_types: tuple[str, ...]
    deletion_event_types: tuple[str, ...]
    can_be_deleted: bool
    has_updated_field: bool
    nested_lists: tuple[NestedListDefinition, ...]
    # parameters every list call of this stream sends (`status=all`, without which Stripe leaves
    # canceled subscriptions out of the list)
    list_defaults: Mapping[str, str] = field(default_factory=dict, compare=False, hash=False)
    description: str | None = field(default=None, compare=False)
    json_schema: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    has_created_field: bool = False
    # where the SDK object class lives (``stripe._customer:Customer``): the class and its fields are
    # resolved on first use, since only the emulator and the docs need them, not a sync
    sdk_class_path: str = field(default="", repr=False, compare=False)

    @functools.cached_property
    def sdk_class(self) -> type:
        """The SDK's object class of this stream (imported on first use)."""
        module_name, _, qualname = self.sdk_class_path.partition(":")
        found: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            found = getattr(found, part)
        return found  # type: ignore[no-any-return]

    @functools.cached_property
    def fields(self) -> tuple[FieldDefinition, ...]:
        """Every annotated attribute of the SDK class (read from the SDK on first use)."""
        from sync_platform.sources.stripe.sdk_fields import object_fields  # imports the SDK

        return object_fields(self.sdk_class)

    @property
    def retrieve_path(self) -> str:
        return f"{self.list_path}/{{id}}"

    def nested_list(self, field_name: str) -> NestedListDefinition | None:
        return next((nested for nested in self.nested_lists if nested.field == field_name), None)

    def metadata(self) -> dict[str, Any]:
        """The protocol ``Stream.metadata``: what a reader of the catalog needs beyond the schema."""
        return {
            "object_name": self.object_name,
            "list_path": self.list_path,
            "retrieve_path": self.retrieve_path,
            "id_prefix": self.id_prefix,
            "api_version": API_VERSION,
            "supports_created_filter": self.supports_created_filter,
            "supports_pagination": self.supports_pagination,
            "supports_ending_before": self.supports_ending_before,
            "supports_limit": self.supports_limit,
            "has_updated_field": self.has_updated_field,
            "event_types": list(self.event_types),
            "deletion_event_types": list(self.deletion_event_types),
            "nested_lists": [nested.as_metadata() for nested in self.nested_lists],
            "list_defaults": dict(self.list_defaults),
            "description": self.description,
        }

    def to_stream(self, admitted: list[str] | None) -> Stream:
        """The protocol stream; ``admitted`` (``admitted_account_ids``) are the only values of
        ``_account_id``, and None leaves it open (no account known)."""
        schema = dict(self.json_schema)
        return Stream(
            name=self.name,
            primary_key=PRIMARY_KEY,
            json_schema=schema if admitted is None else stamp_account_ids(schema, admitted),
            metadata=self.metadata(),
            newer_than_field=UPDATED_AT_FIELD,
        )
