"""Turns catalog streams into Dagster asset specs: one small method per attribute.

To change one attribute (say, the key prefix or the owners), subclass ``StripeAssetTranslator`` and
override that method; ``get_asset_spec`` composes them, as Dagster's own dlt/sling translators do.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dagster as dg

from sync_platform.defs.families import DestinationFamily
from sync_platform.protocol import Stream

DEFAULT_OWNERS = ("team:data-platform",)
# The reconcile schedule runs daily, and webhooks keep tables fresh within seconds; a stream not
# materialized for over a day and a half means both lanes stopped for that pipeline.
FRESHNESS_WARN = timedelta(hours=26)
FRESHNESS_FAIL = timedelta(hours=36)


def _types(schema: dict[str, Any]) -> list[str]:
    declared = schema.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def column_type(schema: dict[str, Any]) -> str:
    """A readable column type for the UI, following ``docs/json-schema-conventions.md``."""
    types = [t for t in _types(schema) if t != "null"]
    base = types[0] if types else "unknown"
    if schema.get("x-expandable-reference"):
        return "reference (id)"
    if schema.get("format") in ("unix-time", "date-time"):
        return "timestamp"
    if schema.get("x-stripe-list"):
        return "list (json)"
    return {"object": "json", "array": "json"}.get(base, base)


def table_schema(stream: Stream) -> dg.TableSchema:
    """Every schema property as a column, primary key columns first, marked non-nullable."""
    properties: dict[str, Any] = (stream.json_schema or {}).get("properties", {})
    key = stream.primary_key_fields()
    ordered = [*[name for name in key if name in properties], *[n for n in properties if n not in key]]
    columns = []
    for name in ordered:
        schema = properties[name]
        nullable = "null" in _types(schema)
        columns.append(
            dg.TableColumn(
                name=name,
                type=column_type(schema),
                description=(schema.get("description") or "")[:300] or None,
                constraints=dg.TableColumnConstraints(nullable=nullable, unique=False),
            )
        )
    return dg.TableSchema(
        columns=columns, constraints=dg.TableConstraints(other=[f"primary key ({', '.join(key)})"])
    )


class StripeAssetTranslator:
    """Catalog stream -> ``AssetSpec`` for one destination family."""

    def get_asset_key(self, stream: Stream, family: DestinationFamily) -> dg.AssetKey:
        return dg.AssetKey([family.key_prefix, stream.name])

    def get_description(self, stream: Stream, family: DestinationFamily) -> str:
        metadata = stream.metadata or {}
        origin = f" (`{metadata['list_path']}`)" if metadata.get("list_path") else ""
        return (
            f"Stripe `{metadata.get('object_name', stream.name)}` objects{origin}, one {family.storage_noun} "
            "per pipeline (partition). Kept current by a resumable backfill, webhooks and a daily reconcile; "
            "the newest version of each object wins."
        )

    def get_owners(self, stream: Stream, family: DestinationFamily) -> list[str]:
        return list(DEFAULT_OWNERS)

    def get_tags(self, stream: Stream, family: DestinationFamily) -> dict[str, str]:
        return {"stripe/stream": stream.name}

    def get_metadata(self, stream: Stream, family: DestinationFamily) -> dict[str, Any]:
        metadata = stream.metadata or {}
        return {
            "dagster/column_schema": table_schema(stream),
            "stripe/primary_key": dg.MetadataValue.json(stream.primary_key_fields()),
            "stripe/newer_than_field": stream.newer_than_field,
            **({"stripe/list_path": metadata["list_path"]} if metadata.get("list_path") else {}),
            **(
                {"stripe/supports_created_filter": bool(metadata["supports_created_filter"])}
                if "supports_created_filter" in metadata
                else {}
            ),
        }

    def get_freshness_policy(self, stream: Stream, family: DestinationFamily) -> dg.FreshnessPolicy | None:
        return dg.FreshnessPolicy.time_window(fail_window=FRESHNESS_FAIL, warn_window=FRESHNESS_WARN)

    def get_asset_spec(self, stream: Stream, family: DestinationFamily) -> dg.AssetSpec:
        return dg.AssetSpec(
            key=self.get_asset_key(stream, family),
            description=self.get_description(stream, family),
            metadata=self.get_metadata(stream, family),
            group_name=family.group_name,
            owners=self.get_owners(stream, family),
            tags=self.get_tags(stream, family),
            kinds={"stripe", family.kind},
            freshness_policy=self.get_freshness_policy(stream, family),
            skippable=True,  # a subset run, or a pipeline that syncs fewer streams, skips the rest
        )
