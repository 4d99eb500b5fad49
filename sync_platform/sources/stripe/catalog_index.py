"""The catalog read from the SDK once and committed, so a command does not spend a second on it.

Reading the catalog out of the ``stripe`` SDK (``catalog.build_catalog``: walking every service for
its list endpoints, every event type for its object, every object class for its typed fields) costs
about a second of CPU, and every ``sync-platform`` command and every Dagster run step paid it before
its first request. ``catalog_index.json``, next to this module, holds the result for the SDK version
the lock pins, and that release's API version (``sdk_release`` reads it, so that a sync need not
import the SDK for it); ``load`` returns it only when that is the installed version, so any other
SDK (an install that resolved a newer ``stripe``) still gets its catalog read from the SDK itself. A test
fails when the file no longer matches what the SDK gives (an upgrade, or a change to how the catalog
is derived); regenerate it with

    .venv/bin/python -m sync_platform.sources.stripe.catalog_index
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sync_platform.sources.stripe.sdk_release import INDEX_PATH, read_index
from sync_platform.sources.stripe.stream_definitions import NestedListDefinition, StripeStreamDefinition

__all__ = ["INDEX_PATH", "REGENERATE", "load", "render"]
REGENERATE = "python -m sync_platform.sources.stripe.catalog_index"


def render(definitions: Iterable[StripeStreamDefinition], stripe_version: str, api_version: str) -> str:
    """The index file's text for these definitions (stable: field order as the SDK gives it)."""
    document = {
        "generated_by": REGENERATE,
        "stripe_version": stripe_version,
        "api_version": api_version,
        "streams": [_stream_entry(definition) for definition in definitions],
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def load(stripe_version: str, path: Path = INDEX_PATH) -> tuple[StripeStreamDefinition, ...] | None:
    """The committed catalog, or None when it is missing or was built from another SDK version."""
    document = read_index(path)
    if document is None or document.get("stripe_version") != stripe_version:
        return None
    return tuple(_definition(entry) for entry in document["streams"])


def _stream_entry(definition: StripeStreamDefinition) -> dict[str, Any]:
    return {
        "name": definition.name,
        "object_name": definition.object_name,
        "list_path": definition.list_path,
        "id_prefix": definition.id_prefix,
        "supports_created_filter": definition.supports_created_filter,
        "supports_pagination": definition.supports_pagination,
        "supports_ending_before": definition.supports_ending_before,
        "supports_limit": definition.supports_limit,
        "list_params": sorted(definition.list_params),
        "event_types": list(definition.event_types),
        "deletion_event_types": list(definition.deletion_event_types),
        "can_be_deleted": definition.can_be_deleted,
        "has_updated_field": definition.has_updated_field,
        "has_created_field": definition.has_created_field,
        "nested_lists": [nested.as_metadata() for nested in definition.nested_lists],
        "list_defaults": dict(definition.list_defaults),
        "description": definition.description,
        "sdk_class_path": definition.sdk_class_path,
        "json_schema": definition.json_schema,
    }


def _definition(entry: dict[str, Any]) -> StripeStreamDefinition:
    return StripeStreamDefinition(
        name=entry["name"],
        object_name=entry["object_name"],
        list_path=entry["list_path"],
        id_prefix=entry["id_prefix"],
        supports_created_filter=entry["supports_created_filter"],
        supports_pagination=entry["supports_pagination"],
        supports_ending_before=entry["supports_ending_before"],
        supports_limit=entry["supports_limit"],
        list_params=frozenset(entry["list_params"]),
        event_types=tuple(entry["event_types"]),
        deletion_event_types=tuple(entry["deletion_event_types"]),
        can_be_deleted=entry["can_be_deleted"],
        has_updated_field=entry["has_updated_field"],
        has_created_field=entry["has_created_field"],
        nested_lists=tuple(
            NestedListDefinition(
                field=nested["field"],
                item_objects=tuple(nested["item_objects"]),
                list_path=nested["list_path"],
                parent_param=nested["parent_param"],
            )
            for nested in entry["nested_lists"]
        ),
        list_defaults=entry["list_defaults"],
        description=entry["description"],
        sdk_class_path=entry["sdk_class_path"],
        json_schema=entry["json_schema"],
    )


def main() -> None:
    """Rewrite the index from the installed SDK."""
    import stripe

    from sync_platform.sources.stripe.catalog import build_catalog

    INDEX_PATH.write_text(render(build_catalog(), stripe.VERSION, stripe.api_version), encoding="utf-8")
    print(f"wrote {INDEX_PATH} (stripe {stripe.VERSION}, API {stripe.api_version})")


if __name__ == "__main__":
    main()
