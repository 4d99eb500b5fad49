"""PipelineConfig: which source, which destination, which streams, as the engine receives them."""

from __future__ import annotations

from typing import Any

from pydantic import Field, PositiveInt, model_serializer, model_validator

from sync_platform.protocol.base import WireModel
from sync_platform.protocol.catalog import OpenTimeRange, SyncMode


class ConnectorConfig(WireModel):
    """A connector and its config, in the wire shape ``{"type": "stripe", "stripe": {...}}``.

    Keying the config by the connector's own name keeps a pipeline document self-describing and lets
    a JSON schema discriminate on ``type`` (the reference calls this "Stripe polymorphism").
    """

    type: str = Field(min_length=1)
    config: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _from_wire(cls, value: Any) -> Any:
        if isinstance(value, dict) and "config" not in value and "type" in value:
            connector_type = value["type"]
            return {"type": connector_type, "config": value.get(connector_type) or {}}
        return value

    @model_serializer(mode="plain")
    def _to_wire(self) -> dict[str, Any]:
        return {"type": self.type, self.type: self.config}


class StreamConfig(WireModel):
    """A stream the pipeline syncs, with optional per-stream limits."""

    name: str = Field(min_length=1)
    sync_mode: SyncMode | None = None
    fields: list[str] | None = None
    backfill_limit: PositiveInt | None = None
    time_range: OpenTimeRange | None = None


class PipelineConfig(WireModel):
    """``streams`` omitted (``None``) means every stream the source discovers."""

    source: ConnectorConfig
    destination: ConnectorConfig
    streams: list[StreamConfig] | None = None

    def with_streams(self, names: list[str] | None) -> PipelineConfig:
        """The same pipeline restricted to ``names`` (keeping per-stream options), or all when None."""
        if names is None:
            return self
        existing = {stream.name: stream for stream in self.streams or []}
        return self.model_copy(update={"streams": [existing.get(n) or StreamConfig(name=n) for n in names]})
