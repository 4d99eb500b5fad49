"""The webhook inbox: verified events wait here until a run applies them and marks them processed.

The receiver inserts (idempotent on ``(pipeline_id, event_id)``, so Stripe's retries and duplicate
deliveries are stored once); the Dagster inbox sensor scans pending rows after its cursor, bounded
and index-backed, to request one run per pipeline; the run claims that pipeline's pending rows and
marks them processed in the same transaction as its checkpoint. Payloads stay in the database and
never travel in run config.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from sync_platform.pipelines.errors import PipelineNotFoundError
from sync_platform.pipelines.tables import Tables
from sync_platform.storable_json import is_storable, storable

DEFAULT_SCAN_LIMIT = 500
DEFAULT_CLAIM_LIMIT = 100


@dataclass(frozen=True)
class InboxRef:
    """A pending inbox row, as the sensor sees it: no payload."""

    id: int
    pipeline_id: str


@dataclass(frozen=True)
class InboxSummary:
    """Pending rows of one pipeline within a scan window: what one run request needs."""

    pipeline_id: str
    max_id: int
    count: int
    event_types: tuple[str, ...] = field(default=(), compare=False)  # which streams the run touches


@dataclass(frozen=True)
class InboxEvent:
    """A claimed event with its payload, for the run that applies it."""

    id: int
    pipeline_id: str
    event_id: str
    event_type: str
    payload: dict[str, Any]
    received_at: datetime


def insert_event(
    connection: psycopg.Connection[Any],
    tables: Tables,
    pipeline_id: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
) -> bool:
    """Store one event; False when this pipeline already has an event with this id.

    A payload PostgreSQL cannot hold as it is (a NUL or a lone surrogate in a string, a NaN) is
    stored repaired, as the destination would write it, with the original kept beside it: never
    refused, since Stripe would deliver it again and again and the change would never be applied.
    """
    original = None
    if not is_storable(payload):
        original = json.dumps(payload, ensure_ascii=True).encode()
        payload = storable(payload)
    insert = sql.SQL(
        "INSERT INTO {} (pipeline_id, event_id, event_type, payload, original_payload) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (pipeline_id, event_id) DO NOTHING RETURNING id"
    ).format(tables.inbox)
    params = (pipeline_id, storable(event_id), storable(event_type), Jsonb(payload), original)
    in_unit = connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    try:
        if in_unit:  # a savepoint, so a missing pipeline does not abort the caller's unit of work
            with connection.transaction():
                row = connection.execute(insert, params).fetchone()
        else:  # autocommit: one round trip on the receiver's hot path
            row = connection.execute(insert, params).fetchone()
    except psycopg.errors.ForeignKeyViolation:
        raise PipelineNotFoundError(pipeline_id) from None
    return row is not None


def _pending_window(tables: Tables) -> sql.Composed:
    return sql.SQL(
        "SELECT id, pipeline_id, event_type FROM {} "
        "WHERE processed_at IS NULL AND id > %s ORDER BY id LIMIT %s"
    ).format(tables.inbox)


def pending(connection: psycopg.Connection[Any], tables: Tables, after_id: int, limit: int) -> list[InboxRef]:
    """Up to ``limit`` pending rows with ``id > after_id``, oldest first."""
    rows = connection.execute(_pending_window(tables), (after_id, limit)).fetchall()
    return [InboxRef(int(row["id"]), row["pipeline_id"]) for row in rows]


def pending_summary(
    connection: psycopg.Connection[Any], tables: Tables, after_id: int, limit: int
) -> list[InboxSummary]:
    """The same window as ``pending``, grouped per pipeline (max id and count), by max id.

    The sensor advances its cursor to the largest ``max_id`` and requests one run per pipeline
    with ``run_key = f"{pipeline_id}:live:{max_id}"``.
    """
    rows = connection.execute(
        sql.SQL(
            "SELECT pipeline_id, max(id) AS max_id, count(*) AS count, "
            "array_agg(DISTINCT event_type ORDER BY event_type) AS event_types FROM ({}) AS pending "
            "GROUP BY pipeline_id ORDER BY max(id)"
        ).format(_pending_window(tables)),
        (after_id, limit),
    ).fetchall()
    return [
        InboxSummary(row["pipeline_id"], int(row["max_id"]), int(row["count"]), tuple(row["event_types"]))
        for row in rows
    ]


def claim(
    connection: psycopg.Connection[Any],
    tables: Tables,
    pipeline_id: str,
    *,
    up_to_id: int | None,
    limit: int,
) -> list[InboxEvent]:
    """Lock and return up to ``limit`` pending events of one pipeline (``id <= up_to_id``), oldest first.

    ``FOR UPDATE SKIP LOCKED``: rows another open transaction claimed are skipped, not waited for,
    so two runs never apply the same event at once. The locks last until the caller's transaction
    ends, which is where it marks them processed together with its checkpoint.
    """
    rows = connection.execute(
        sql.SQL(
            "SELECT id, pipeline_id, event_id, event_type, payload, received_at FROM {} "
            "WHERE pipeline_id = %s AND processed_at IS NULL AND (%s::bigint IS NULL OR id <= %s) "
            "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
        ).format(tables.inbox),
        (pipeline_id, up_to_id, up_to_id, limit),
    ).fetchall()
    return [
        InboxEvent(
            int(row["id"]),
            row["pipeline_id"],
            row["event_id"],
            row["event_type"],
            row["payload"],
            row["received_at"],
        )
        for row in rows
    ]


def mark_processed(connection: psycopg.Connection[Any], tables: Tables, ids: list[int]) -> int:
    """Mark rows processed; returns how many were still pending."""
    if not ids:
        return 0
    cursor = connection.execute(
        sql.SQL("UPDATE {} SET processed_at = now() WHERE id = ANY(%s) AND processed_at IS NULL").format(
            tables.inbox
        ),
        (ids,),
    )
    return cursor.rowcount


def count_pending(connection: psycopg.Connection[Any], tables: Tables, pipeline_id: str) -> int:
    row = connection.execute(
        sql.SQL("SELECT count(*) AS n FROM {} WHERE pipeline_id = %s AND processed_at IS NULL").format(
            tables.inbox
        ),
        (pipeline_id,),
    ).fetchone()
    return int(row["n"]) if row else 0


def delete_processed(
    connection: psycopg.Connection[Any], tables: Tables, before: datetime, pipeline_id: str | None = None
) -> int:
    """Retention: drop rows processed before ``before`` (of one pipeline, or all); returns how many.

    Pending rows are never touched, however old: they are changes not yet applied.
    """
    applied = sql.SQL("DELETE FROM {} WHERE processed_at IS NOT NULL AND processed_at < %s")
    query = applied.format(tables.inbox)
    if pipeline_id is None:
        return connection.execute(query, (before,)).rowcount
    return connection.execute(query + sql.SQL(" AND pipeline_id = %s"), (before, pipeline_id)).rowcount
