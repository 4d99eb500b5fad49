"""Catalog steps between discovery and a sync: select streams, prune fields, bound time, skip done.

Each function is pure and returns a new catalog; none mutates its input.
"""

from __future__ import annotations

from datetime import datetime

from sync_platform.engine.errors import UnknownStreamError
from sync_platform.protocol import (
    TERMINAL_STREAM_STATUSES,
    CatalogPayload,
    ConfiguredCatalog,
    ConfiguredStream,
    OpenTimeRange,
    ProgressPayload,
    StreamConfig,
    SyncMode,
)


def build_catalog(
    discovered: CatalogPayload, selection: list[StreamConfig] | None, *, source: str = "the source"
) -> ConfiguredCatalog:
    """The configured catalog for a pipeline: every discovered stream, or the selected ones.

    Unlike the reference, a selected name the source does not offer is an error rather than a
    silent drop: a typo in ``streams`` would otherwise sync nothing and report success.
    Streams keep the order of the discovered catalog.
    """
    if not selection:
        return ConfiguredCatalog(streams=[ConfiguredStream(stream=s) for s in discovered.streams])
    known = {stream.name for stream in discovered.streams}
    for config in selection:
        if config.name not in known:
            raise UnknownStreamError(config.name, known, source=source)
    options = {config.name: config for config in selection}
    return ConfiguredCatalog(
        streams=[
            ConfiguredStream(
                stream=stream,
                sync_mode=options[stream.name].sync_mode or SyncMode.FULL_REFRESH,
                fields=options[stream.name].fields,
                backfill_limit=options[stream.name].backfill_limit,
                time_range=options[stream.name].time_range,
            )
            for stream in discovered.streams
            if stream.name in options
        ]
    )


def apply_selection(catalog: ConfiguredCatalog) -> ConfiguredCatalog:
    """Prune each stream's schema to its selected ``fields`` plus primary key and ordering field."""
    pruned: list[ConfiguredStream] = []
    for configured in catalog.streams:
        schema = configured.stream.json_schema
        if not configured.fields or not schema or "properties" not in schema:
            pruned.append(configured)
            continue
        keep = set(configured.fields) | set(configured.stream.primary_key_fields())
        keep.add(configured.stream.newer_than_field)
        properties = {k: v for k, v in schema["properties"].items() if k in keep}
        required = [name for name in schema.get("required", []) if name in properties]
        new_schema = {**schema, "properties": properties, "required": required}
        stream = configured.stream.model_copy(update={"json_schema": new_schema})
        pruned.append(configured.model_copy(update={"stream": stream}))
    return ConfiguredCatalog(streams=pruned)


def with_time_ranges(catalog: ConfiguredCatalog, time_ceiling: datetime | None) -> ConfiguredCatalog:
    """Cap every time-rangeable stream at the run's ``time_ceiling`` (a user-set ``lt`` wins).

    Freezing the upper bound for a whole run keeps the set of objects a backfill must cover fixed
    while it is split across many requests.
    """
    if time_ceiling is None:
        return catalog
    streams: list[ConfiguredStream] = []
    for configured in catalog.streams:
        if configured.supports_time_range is False:
            streams.append(configured)
            continue
        current = configured.time_range or OpenTimeRange()
        bounded = OpenTimeRange(gte=current.gte, lt=current.lt or time_ceiling)
        streams.append(configured.model_copy(update={"time_range": bounded}))
    return ConfiguredCatalog(streams=streams)


def exclude_terminal_streams(
    catalog: ConfiguredCatalog, progress: ProgressPayload | None
) -> ConfiguredCatalog:
    """Drop streams that already completed, were skipped or errored earlier in this run."""
    if progress is None:
        return catalog
    return ConfiguredCatalog(
        streams=[
            configured
            for configured in catalog.streams
            if (p := progress.streams.get(configured.stream.name)) is None
            or p.status not in TERMINAL_STREAM_STATUSES
        ]
    )
