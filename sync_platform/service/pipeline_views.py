"""Pipelines as the API answers them: ``Pipeline.masked()`` plus what a list or a page needs.

Masking is the model's (``Pipeline.masked``: secrets ``***`` or ``{"env": NAME}``), exactly what
``sync-platform pipelines … --json`` prints; this module only adds derived figures. A list leaves
out the two checkpoints unless asked (``include_state``): a Stripe pipeline's checkpoint holds a
few kilobytes per stream, and a list of a thousand pipelines would carry tens of megabytes of them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from datetime import datetime
from typing import Any

from sync_platform.pipelines import Pipeline, mask_config
from sync_platform.pipelines.account_status import account_status
from sync_platform.pipelines.listing import ListVersion, PipelineSummary, list_summaries, list_versions
from sync_platform.pipelines.store import PipelineStore
from sync_platform.protocol import ConnectorConfig

CACHED_CONFIGS = 8192


def progress_summary(pipeline: Pipeline, last_sync_at: datetime | None) -> dict[str, Any]:
    """``{records, streams, streams_completed, last_sync_at}`` from the backfill checkpoint: the
    records its last backfill run wrote, the streams it holds a position for, how many completed."""
    state = pipeline.sync_state or {}
    run = (state.get("sync_run") or {}).get("progress") or {}
    streams = run.get("streams") or {}
    positions = (state.get("source") or {}).get("streams") or {}
    records = (run.get("derived") or {}).get("total_record_count")
    return {
        "records": records if isinstance(records, int) else 0,
        "streams": len(positions) or len(streams),
        "streams_completed": sum(1 for s in streams.values() if (s or {}).get("status") == "completed"),
        "last_sync_at": last_sync_at.isoformat() if last_sync_at else None,
    }


def list_item(pipeline: Pipeline, last_sync_at: datetime | None, *, include_state: bool) -> dict[str, Any]:
    data = pipeline.masked()
    data["progress"] = progress_summary(pipeline, last_sync_at)
    if not include_state:
        del data["sync_state"], data["live_state"]
    return data


_masked: OrderedDict[tuple[str, int, str], dict[str, Any]] = OrderedDict()
_masked_lock = threading.Lock()


def _masked_connector(
    pipeline_id: str, version: int, side: str, connector: ConnectorConfig
) -> dict[str, Any]:
    """A connector config in its output form, masked by the model's own rule (``mask_config``).

    Kept per pipeline version, which every write to its row bumps (configs included), so a list of
    a thousand unchanged pipelines masks nothing twice. The answer is shared: never mutated.
    """
    key = (pipeline_id, version, side)
    with _masked_lock:
        if key in _masked:
            _masked.move_to_end(key)
            return _masked[key]
    masked = {"type": connector.type, connector.type: mask_config(connector.config)}
    with _masked_lock:
        _masked[key] = masked
        while len(_masked) > CACHED_CONFIGS:
            _masked.popitem(last=False)
    return masked


def summary_item(summary: PipelineSummary) -> dict[str, Any]:
    """A list's item: the masked pipeline without its checkpoints, plus its progress figures."""
    pipeline = summary.pipeline
    data: dict[str, Any] = pipeline.model_dump(
        mode="json", exclude={"source", "destination", "sync_state", "live_state"}
    )
    data["source"] = _masked_connector(pipeline.id, pipeline.version, "source", pipeline.source)
    data["destination"] = _masked_connector(
        pipeline.id, pipeline.version, "destination", pipeline.destination
    )
    data["progress"] = summary.progress()
    return data


def detail(pipeline: Pipeline, *, pending_events: int) -> dict[str, Any]:
    """What ``GET /pipelines/{id}`` answers (and ``pipelines get --json`` prints)."""
    data = pipeline.masked()
    data["pending_webhook_events"] = pending_events
    if (accounts := account_status(pipeline)) is not None:
        data["account_status"] = accounts
    return data


def etag(pipeline: Pipeline) -> str:
    return f'"{pipeline.version}"'


class PipelineList:
    """The list's items, rebuilt only for pipelines that changed since the last list.

    One cheap read gives every pipeline's version and its checkpoints' versions; an item built for
    the same versions is reused as it is, and only changed or new pipelines are read and masked. A
    thousand idle pipelines are listed without parsing a checkpoint or masking a config.
    """

    def __init__(self) -> None:
        self._items: dict[str, tuple[ListVersion, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def items(self, store: PipelineStore, *, include_deleted: bool) -> list[dict[str, Any]]:
        versions = list_versions(store, include_deleted=include_deleted)
        with self._lock:
            known = dict(self._items)
        stale = [version[0] for version in versions if known.get(version[0], (None,))[0] != version]
        if stale:
            for summary in list_summaries(store, include_deleted=True, ids=stale):
                known[summary.pipeline.id] = (summary.list_version, summary_item(summary))
        listed = [known[version[0]][1] for version in versions if version[0] in known]
        with self._lock:
            self._items = {version[0]: known[version[0]] for version in versions if version[0] in known}
        return listed
