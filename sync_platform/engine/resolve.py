"""Turns a PipelineConfig (plus stored state) into connectors, validated configs and catalogs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from sync_platform.engine.catalog import apply_selection, build_catalog
from sync_platform.engine.config import validate_config
from sync_platform.engine.connectors import Config, Destination, Source
from sync_platform.engine.registry import ConnectorRegistry
from sync_platform.protocol import (
    CatalogPayload,
    ConfiguredCatalog,
    ConnectorConfig,
    ConnectorSpecification,
    PipelineConfig,
    SyncState,
    parse_sync_state,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BoundSource:
    type: str
    connector: Source
    spec: ConnectorSpecification
    config: Config

    @property
    def tag(self) -> str:
        return f"source/{self.type}"


@dataclass(frozen=True)
class BoundDestination:
    type: str
    connector: Destination
    spec: ConnectorSpecification
    config: Config

    @property
    def tag(self) -> str:
        return f"destination/{self.type}"


@dataclass(frozen=True)
class ResolvedPipeline:
    """Everything one operation needs, resolved once: connectors, configs, catalogs and state.

    ``catalog`` is what the source reads (selected streams, full schemas); ``filtered_catalog`` is
    what the destination writes (schemas pruned to the selected ``fields``).
    """

    source: BoundSource
    destination: BoundDestination
    catalog: ConfiguredCatalog
    filtered_catalog: ConfiguredCatalog
    state: SyncState | None


def bind_source(registry: ConnectorRegistry, connector: ConnectorConfig) -> BoundSource:
    source = registry.source(connector.type)
    spec = source.spec()
    config = validate_config(spec.config, connector.config, connector=connector.type, side="source")
    return BoundSource(connector.type, source, spec, config)


def bind_destination(registry: ConnectorRegistry, connector: ConnectorConfig) -> BoundDestination:
    destination = registry.destination(connector.type)
    spec = destination.spec()
    config = validate_config(spec.config, connector.config, connector=connector.type, side="destination")
    return BoundDestination(connector.type, destination, spec, config)


def drop_invalid_stream_states(state: SyncState, schema: dict[str, Any] | None) -> SyncState:
    """Discard only the per-stream states that fail the source's state schema, with a warning each.

    The reference discarded the *whole* state when any one stream failed validation, restarting
    every backfill and losing the events cursor (reference bug #1).
    """
    if not schema:
        return state
    validator = Draft202012Validator(schema)
    kept: dict[str, Any] = {}
    for stream, value in state.source.streams.items():
        if value is None or validator.is_valid(value):
            kept[stream] = value
        else:
            logger.warning(
                "discarding the stored state of stream %r: it does not match the source's state schema; "
                "the stream restarts its backfill",
                stream,
                extra={"stream": stream},
            )
    if len(kept) == len(state.source.streams):
        return state
    return state.model_copy(update={"source": state.source.model_copy(update={"streams": kept})})


async def resolve_pipeline(
    registry: ConnectorRegistry, pipeline: PipelineConfig, raw_state: Any = None
) -> ResolvedPipeline:
    """Bind both connectors, discover the catalog and parse the state; any problem raises here,
    before a single record moves."""
    source = bind_source(registry, pipeline.source)
    destination = bind_destination(registry, pipeline.destination)
    discovered: CatalogPayload = await source.connector.discover(source.config)
    catalog = build_catalog(discovered, pipeline.streams, source=source.tag)
    state = parse_sync_state(raw_state)
    if state is not None:
        state = drop_invalid_stream_states(state, source.spec.source_state_stream)
    return ResolvedPipeline(source, destination, catalog, apply_selection(catalog), state)
