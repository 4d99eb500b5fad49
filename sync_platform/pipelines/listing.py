"""Pipelines listed with a summary of their progress, without their checkpoints: a cheap list.

A pipeline's backfill checkpoint holds a few kilobytes per stream; reading, parsing and validating a
thousand of them only to show one number each would make a list of pipelines slow. This read takes
from the checkpoints, inside PostgreSQL, only what a list shows: records of the last backfill run,
streams with a position, streams completed, and when a checkpoint was last saved ("last sync").
The pipelines it returns carry no ``sync_state`` / ``live_state`` (``PipelineStore.get`` has them).

``list_versions`` is the cheapest read of all: each pipeline's version and its two checkpoints'
versions, which change whenever anything a list shows changes, so a caller can keep what it built
for a pipeline and read (with ``list_summaries(ids=...)``) only the pipelines that changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import sql

from sync_platform.pipelines.model import Pipeline
from sync_platform.pipelines.store import PipelineStore
from sync_platform.pipelines.transaction import StoreTransaction

_SUMMARY = """
SELECT p.*,
    CASE WHEN jsonb_typeof(b.state #> '{{sync_run,progress,derived,total_record_count}}') = 'number'
         THEN (b.state #>> '{{sync_run,progress,derived,total_record_count}}')::bigint END AS summary_records,
    CASE WHEN jsonb_typeof(b.state #> '{{source,streams}}') = 'object'
         THEN (SELECT count(*) FROM jsonb_object_keys(b.state #> '{{source,streams}}')) ELSE 0 END
         AS summary_streams,
    CASE WHEN jsonb_typeof(b.state #> '{{sync_run,progress,streams}}') = 'object'
         THEN (SELECT count(*) FROM jsonb_each(b.state #> '{{sync_run,progress,streams}}') s
               WHERE s.value ->> 'status' = 'completed') ELSE 0 END AS summary_completed,
    greatest(CASE WHEN b.state IS NOT NULL THEN b.updated_at END,
             CASE WHEN l.state IS NOT NULL THEN l.updated_at END) AS summary_saved_at,
    coalesce(b.version, 0) AS summary_backfill_version, coalesce(l.version, 0) AS summary_live_version
FROM {pipelines} p
LEFT JOIN {checkpoints} b ON b.pipeline_id = p.id AND b.lane = 'backfill'
LEFT JOIN {checkpoints} l ON l.pipeline_id = p.id AND l.lane = 'live'
"""


_VERSIONS = """
SELECT p.id, p.version, coalesce(b.version, 0) AS backfill_version, coalesce(l.version, 0) AS live_version
FROM {pipelines} p
LEFT JOIN {checkpoints} b ON b.pipeline_id = p.id AND b.lane = 'backfill'
LEFT JOIN {checkpoints} l ON l.pipeline_id = p.id AND l.lane = 'live'
"""

ListVersion = tuple[str, int, int, int]
"""``(pipeline id, its version, its backfill checkpoint's version, its live checkpoint's version)``."""


@dataclass(frozen=True)
class PipelineSummary:
    """A pipeline (without its checkpoints) and the figures a list shows for it."""

    pipeline: Pipeline
    records: int
    streams: int
    streams_completed: int
    last_sync_at: datetime | None
    backfill_version: int = 0
    live_version: int = 0

    @property
    def list_version(self) -> ListVersion:
        return (self.pipeline.id, self.pipeline.version, self.backfill_version, self.live_version)

    def progress(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "streams": self.streams,
            "streams_completed": self.streams_completed,
            "last_sync_at": self.last_sync_at.isoformat() if self.last_sync_at else None,
        }


def _where(include_deleted: bool, ids: list[str] | None) -> tuple[sql.Composable, list[Any]]:
    clauses: list[sql.Composable] = []
    params: list[Any] = []
    if not include_deleted:
        clauses.append(sql.SQL("p.desired_status <> 'deleted'"))
    if ids is not None:
        clauses.append(sql.SQL("p.id = ANY(%s)"))
        params.append(ids)
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
    return where + sql.SQL(" ORDER BY p.created_at, p.id"), params


def list_versions(store: PipelineStore, *, include_deleted: bool = False) -> list[ListVersion]:
    """Every pipeline's list version, in list order (one indexed read, no JSON)."""
    where, params = _where(include_deleted, None)
    tables = store.tables
    query = sql.SQL(_VERSIONS).format(pipelines=tables.pipelines, checkpoints=tables.checkpoints) + where
    rows = store.atomically(lambda tx: tx.connection.execute(query, params).fetchall())
    return [(r["id"], int(r["version"]), int(r["backfill_version"]), int(r["live_version"])) for r in rows]


def list_summaries(
    store: PipelineStore, *, include_deleted: bool = False, ids: list[str] | None = None
) -> list[PipelineSummary]:
    """Every pipeline (or those of ``ids``), oldest first, deleted ones only when asked, with its
    progress summary."""
    tables = store.tables
    where, params = _where(include_deleted, ids)
    query = sql.SQL(_SUMMARY).format(pipelines=tables.pipelines, checkpoints=tables.checkpoints) + where

    def read(tx: StoreTransaction) -> list[dict[str, Any]]:
        return [dict(row) for row in tx.connection.execute(query, params).fetchall()]

    summaries = []
    for row in store.atomically(read):
        figures = {key: row.pop(key) for key in [k for k in row if k.startswith("summary_")]}
        summaries.append(
            PipelineSummary(
                pipeline=Pipeline.model_validate(row),
                records=int(figures["summary_records"] or 0),
                streams=int(figures["summary_streams"] or 0),
                streams_completed=int(figures["summary_completed"] or 0),
                last_sync_at=figures["summary_saved_at"],
                backfill_version=int(figures["summary_backfill_version"]),
                live_version=int(figures["summary_live_version"]),
            )
        )
    return summaries
