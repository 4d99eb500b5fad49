"""The offline checks a pipeline passes on its way into the store: its configs, then its streams.

Every entry point (the CLI today, an HTTP API later) stores through ``PipelineStore``, and the store
runs these before it writes, so nothing is stored when one fails. They open no connection, which is
why ``--skip-check`` (it skips the connection check) cannot skip them:

- each connector config matches the connector's JSON schema and passes the connector's own offline
  validator (``ConnectorConfigs.prepare``), so a Postgres schema name over 63 bytes or a
  destination with no server is refused here, not at setup;
- the stream selection names at least one stream (``[]`` would sync nothing; ``None`` means every
  stream), and only streams the source has, with a did-you-mean for a typo. Names are checked
  against the source's offline catalog; a source without one (its streams depend on its config)
  has them checked by ``discover`` at its first run.
"""

from __future__ import annotations

from collections.abc import Sequence

from sync_platform.engine.connectors import offline_catalog
from sync_platform.engine.errors import UnknownStreamError
from sync_platform.engine.registry import ConnectorRegistry
from sync_platform.errors import ConfigError
from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.model import PipelineCreate, StreamSelection
from sync_platform.protocol import ConnectorConfig


def check_streams(
    registry: ConnectorRegistry, source_type: str, streams: Sequence[StreamSelection] | None
) -> None:
    """Refuse an empty selection, or a stream the source does not offer (``UnknownStreamError``)."""
    if streams is None:
        return
    catalog = offline_catalog(registry.source(source_type))
    listing = f" (`sync-platform streams --source {source_type}` lists them)" if catalog else ""
    if not streams:
        raise ConfigError(
            "The pipeline's `streams` is an empty list, so it would sync nothing. Name at least one "
            f"stream{listing}, or leave `streams` out to sync every stream the source offers.",
            field="streams",
            connector=source_type,
        )
    if catalog is None:
        return
    known = catalog.stream_names()
    for selection in streams:
        if selection.name not in known:
            raise UnknownStreamError(
                selection.name, known, source=f"source {source_type!r}", connector=source_type
            )


def admit(configs: ConnectorConfigs, request: PipelineCreate) -> tuple[ConnectorConfig, ConnectorConfig]:
    """The stored forms of a new pipeline's source and destination, once it passes every check."""
    source = configs.prepare("source", request.source)
    destination = configs.prepare("destination", request.destination)
    check_streams(configs.registry, request.source.type, request.streams)
    return source, destination
