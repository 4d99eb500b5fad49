"""Catalog models: the streams a source offers and the subset a pipeline syncs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, PositiveInt

from sync_platform.protocol.base import WireModel


class TimeRange(WireModel):
    """A half-open interval ``[gte, lt)`` of object creation times; both ends are known."""

    gte: datetime
    lt: datetime


class OpenTimeRange(WireModel):
    """A ``[gte, lt)`` window where either end may be left open (the source fills in defaults)."""

    gte: datetime | None = None
    lt: datetime | None = None


class Stream(WireModel):
    """One stream a source can read: a Stripe object type, say, with its schema and primary key.

    ``primary_key`` is a list of JSON paths (``[["id"], ["_account_id"]]``) rather than column names
    so nested keys stay expressible; ``newer_than_field`` names the record field whose value orders two
    versions of the same row (destinations keep the newer one).
    """

    name: str = Field(min_length=1)
    primary_key: list[list[str]]
    json_schema: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    newer_than_field: str = "_updated_at"
    soft_delete_field: str | None = None

    def primary_key_fields(self) -> list[str]:
        """Top-level field names of the primary key, in order (``["id", "_account_id"]``)."""
        return [path[0] for path in self.primary_key if path]


class CatalogPayload(WireModel):
    """Every stream a source offers, in the source's preferred order."""

    streams: list[Stream]

    def stream_names(self) -> list[str]:
        return [stream.name for stream in self.streams]


class SyncMode(StrEnum):
    FULL_REFRESH = "full_refresh"
    INCREMENTAL = "incremental"


class DestinationSyncMode(StrEnum):
    APPEND = "append"
    OVERWRITE = "overwrite"
    APPEND_DEDUP = "append_dedup"


class ConfiguredStream(WireModel):
    """A stream selected for a sync, with the options the pipeline set for it."""

    stream: Stream
    sync_mode: SyncMode = SyncMode.FULL_REFRESH
    destination_sync_mode: DestinationSyncMode = DestinationSyncMode.APPEND
    fields: list[str] | None = None
    backfill_limit: PositiveInt | None = None
    supports_time_range: bool | None = None
    time_range: OpenTimeRange | None = None

    @property
    def name(self) -> str:
        return self.stream.name


class ConfiguredCatalog(WireModel):
    """The streams one sync reads and writes, in order."""

    streams: list[ConfiguredStream]

    def stream_names(self) -> list[str]:
        return [configured.stream.name for configured in self.streams]

    def by_name(self) -> dict[str, ConfiguredStream]:
        return {configured.stream.name: configured for configured in self.streams}
