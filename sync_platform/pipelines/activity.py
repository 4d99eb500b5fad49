"""When each pipeline last saved a checkpoint: its "last sync", for lists of many pipelines.

A checkpoint is saved as pages commit and at the end of every batch, on either lane, so its time
is when data last reached the pipeline's destination. One grouped read for all pipelines, so a
list of a thousand pipelines costs one query, not a thousand.
"""

from __future__ import annotations

from datetime import datetime

from psycopg import sql

from sync_platform.pipelines.store import PipelineStore
from sync_platform.pipelines.transaction import StoreTransaction


def last_checkpoint_times(store: PipelineStore) -> dict[str, datetime]:
    """``{pipeline_id: when its latest checkpoint (backfill or live) was saved}``."""
    query = sql.SQL(
        "SELECT pipeline_id, max(updated_at) AS saved_at FROM {} WHERE state IS NOT NULL GROUP BY pipeline_id"
    ).format(store.tables.checkpoints)

    def read(tx: StoreTransaction) -> dict[str, datetime]:
        return {row["pipeline_id"]: row["saved_at"] for row in tx.connection.execute(query).fetchall()}

    return store.atomically(read)
