"""The webhook side of a store transaction: the receiver's per-request read and the inbox.

``StoreTransaction`` (``pipelines.transaction``) builds on this class, so the inbox is read and
written in the same database transaction as checkpoints and pipeline rows: a live run claims
events, saves its checkpoint and marks the events processed in one commit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from sync_platform.pipelines import inbox as _inbox
from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.inbox import InboxEvent, InboxRef, InboxSummary
from sync_platform.pipelines.tables import Tables
from sync_platform.pipelines.webhook_target import WebhookTarget


class InboxTransaction:
    """Webhook targets and inbox events, on one open transaction."""

    def __init__(
        self, connection: psycopg.Connection[Any], tables: Tables, configs: ConnectorConfigs
    ) -> None:
        self.connection = connection
        self.tables = tables
        self.configs = configs

    # --- webhook receiver and inbox -------------------------------------------------------------

    def webhook_target(self, pipeline_id: str) -> WebhookTarget | None:
        """What the receiver needs per request (one primary-key read), or None for an unknown id."""
        row = self.connection.execute(
            sql.SQL(
                "SELECT id, source, desired_status, status, error, resume_status, torn_down_at "
                "FROM {} WHERE id = %s"
            ).format(self.tables.pipelines),
            (pipeline_id,),
        ).fetchone()
        return None if row is None else WebhookTarget.from_row(row, self.configs)

    def insert_inbox_event(
        self, pipeline_id: str, event_id: str, event_type: str, payload: dict[str, Any]
    ) -> bool:
        return _inbox.insert_event(self.connection, self.tables, pipeline_id, event_id, event_type, payload)

    def pending_inbox(self, after_id: int = 0, limit: int = _inbox.DEFAULT_SCAN_LIMIT) -> list[InboxRef]:
        return _inbox.pending(self.connection, self.tables, after_id, limit)

    def pending_inbox_summary(
        self, after_id: int = 0, limit: int = _inbox.DEFAULT_SCAN_LIMIT
    ) -> list[InboxSummary]:
        return _inbox.pending_summary(self.connection, self.tables, after_id, limit)

    def claim_inbox_events(
        self, pipeline_id: str, up_to_id: int | None = None, limit: int = _inbox.DEFAULT_CLAIM_LIMIT
    ) -> list[InboxEvent]:
        return _inbox.claim(self.connection, self.tables, pipeline_id, up_to_id=up_to_id, limit=limit)

    def mark_inbox_processed(self, ids: list[int]) -> int:
        return _inbox.mark_processed(self.connection, self.tables, ids)

    def prune_processed_inbox(self, before: datetime, pipeline_id: str | None = None) -> int:
        return _inbox.delete_processed(self.connection, self.tables, before, pipeline_id)

    def count_pending_inbox(self, pipeline_id: str) -> int:
        return _inbox.count_pending(self.connection, self.tables, pipeline_id)
