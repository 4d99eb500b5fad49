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


class StateHandoff:
    """A state passed on together with its ownership: whoever ``take``s it keeps the only reference.

    A Connect platform's checkpoint is megabytes of JSON (~100 MiB as Python objects at 10,000
    accounts), needed only until the source has planned from it; after that the engine's fold
    holds each stream's stored state until the stream checkpoints again. Every frame a state passes
    through (the runner's loop, its batch closure, ``Engine.sync``, ``run_sync``) would otherwise
    keep the whole of it alive for the whole batch, next to the plans built from it. Handed over
    like this, each of them holds only the emptied hand-off. ``Engine.sync(state=...)`` and the
    other operations accept one wherever they accept a state.
    """

    __slots__ = ("_state", "_taken")

    def __init__(self, state: Any) -> None:
        self._state = state
        self._taken = False

    def take(self) -> Any:
        """The state, once: a second take is a bug (the first taker owns it)."""
        if self._taken:
            raise RuntimeError("This state was already taken: a hand-off has one receiver.")
        state, self._state, self._taken = self._state, None, True
        return state


@dataclass(frozen=True)
class ResolvedPipeline:
    """Everything one operation needs, resolved once: connectors, configs, catalogs and state.

    ``catalog`` is what the source reads (selected streams, full schemas); ``filtered_catalog`` is
    what the destination writes (schemas pruned to the selected ``fields``). The parsed state is
    taken once by the operation that runs (``take_state``), so a long operation holding its
    ``ResolvedPipeline`` does not keep the stored checkpoint alive.
    """

    source: BoundSource
    destination: BoundDestination
    catalog: ConfiguredCatalog
    filtered_catalog: ConfiguredCatalog
    prior: StateHandoff

    def take_state(self) -> SyncState | None:
        """The parsed state (None: no state yet), handed over to the caller."""
        state: SyncState | None = self.prior.take()
        return state


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
    before a single record moves. ``raw_state`` may be a ``StateHandoff``: it is taken here."""
    source = bind_source(registry, pipeline.source)
    destination = bind_destination(registry, pipeline.destination)
    discovered: CatalogPayload = await source.connector.discover(source.config)
    catalog = build_catalog(discovered, pipeline.streams, source=source.tag)
    if isinstance(raw_state, StateHandoff):
        raw_state = raw_state.take()
    state = parse_sync_state(raw_state)
    if state is not None:
        state = drop_invalid_stream_states(state, source.spec.source_state_stream)
    return ResolvedPipeline(source, destination, catalog, apply_selection(catalog), StateHandoff(state))
