"""The pipeline store in the app PostgreSQL: a connection pool, migrations, and units of work.

Every method below is one short transaction (``with store.transaction() as tx: tx.<method>(...)``).
Use ``transaction()`` directly when several steps must commit together, such as a live run's
"claim inbox events, save the checkpoint, mark the events processed".
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from sync_platform.engine.registry import ConnectorRegistry
from sync_platform.errors import SyncPlatformError
from sync_platform.pipelines import inbox as _inbox
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.inbox import InboxRef, InboxSummary
from sync_platform.pipelines.migrations import migrate
from sync_platform.pipelines.model import Pipeline, PipelineCreate, PipelineUpdate
from sync_platform.pipelines.run_config import RevealedPipelineConfig, resolve_secrets
from sync_platform.pipelines.states import DesiredStatus, PipelineError, PipelineStatus
from sync_platform.pipelines.tables import Tables
from sync_platform.pipelines.transaction import ControlInput, StoreTransaction
from sync_platform.pipelines.vault import SecretVault
from sync_platform.pipelines.webhook_target import WebhookTarget
from sync_platform.redaction import redact

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA = "sync_platform"


class StoreUnavailableError(SyncPlatformError, ConnectionError):
    """The app database cannot be reached with the configured URL."""

    def __init__(self, dsn: str, cause: BaseException) -> None:
        super().__init__(
            f"Cannot connect to the app database at {redact(dsn)}: {redact(str(cause)).strip()}. "
            "Check DATABASE_URL (or unset it to use the embedded PostgreSQL)."
        )


class PipelineStore:
    """Pipelines, their checkpoints and the webhook inbox, in schema ``schema`` of the app database.

    ``dsn`` is any libpq URL, including the embedded server's socket form
    ``postgresql://postgres:@/postgres?host=/tmp/...``. Pending migrations are applied on
    construction. ``registry`` validates connector configs against their specs (default: every
    installed connector); ``environ`` is where secrets and the encryption key are read from
    (default: the process environment, read at use).
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = DEFAULT_SCHEMA,
        registry: ConnectorRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        min_connections: int = 1,
        max_connections: int = 4,
    ) -> None:
        self.tables = Tables(schema)
        self.configs = ConnectorConfigs(registry, SecretVault(environ))
        try:
            with psycopg.connect(dsn, autocommit=True) as connection:
                migrate(connection, schema)
        except psycopg.OperationalError as error:
            raise StoreUnavailableError(dsn, error) from None
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            dsn,
            min_size=min_connections,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row},
            open=True,
            name=f"sync_platform.pipelines.{schema}",
        )

    @property
    def schema(self) -> str:
        return self.tables.schema

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[StoreTransaction]:
        """One unit of work: everything done through the yielded object commits together."""
        with self._pool.connection() as connection, connection.transaction():
            yield StoreTransaction(connection, self.tables, self.configs)

    @contextmanager
    def _single_statement(self) -> Iterator[StoreTransaction]:
        """For calls that run one statement: autocommit, so no BEGIN/COMMIT round trips.

        The webhook receiver calls ``webhook_target`` and ``insert_inbox_event`` per request; each
        is then one round trip to the database.
        """
        with self._pool.connection() as connection:
            yield StoreTransaction(connection, self.tables, self.configs)

    # --- pipelines ------------------------------------------------------------------------------

    def create(self, request: PipelineCreate) -> Pipeline:
        with self.transaction() as tx:
            return tx.create(request)

    def get(self, pipeline_id: str) -> Pipeline:
        with self._single_statement() as tx:
            return tx.get(pipeline_id)

    def find(self, pipeline_id: str) -> Pipeline | None:
        with self._single_statement() as tx:
            return tx.find(pipeline_id)

    def list_pipelines(self, *, include_deleted: bool = False) -> list[Pipeline]:
        with self._single_statement() as tx:
            return tx.list_pipelines(include_deleted=include_deleted)

    def update(
        self, pipeline_id: str, change: PipelineUpdate, *, expected_version: int | None = None
    ) -> Pipeline:
        with self.transaction() as tx:
            return tx.update(pipeline_id, change, expected_version=expected_version)

    def pause(self, pipeline_id: str, *, expected_version: int | None = None) -> Pipeline:
        return self._desire(pipeline_id, DesiredStatus.PAUSED, expected_version)

    def resume(self, pipeline_id: str, *, expected_version: int | None = None) -> Pipeline:
        """Set ``active``; on a failed pipeline this also clears the error so the platform retries."""
        return self._desire(pipeline_id, DesiredStatus.ACTIVE, expected_version)

    def delete(self, pipeline_id: str, *, expected_version: int | None = None) -> Pipeline:
        """Ask for teardown (``desired_status = deleted``); the platform tears down, then marks it."""
        return self._desire(pipeline_id, DesiredStatus.DELETED, expected_version)

    def _desire(self, pipeline_id: str, desired: DesiredStatus, expected_version: int | None) -> Pipeline:
        with self.transaction() as tx:
            return tx.set_desired_status(pipeline_id, desired, expected_version=expected_version)

    def set_status(
        self, pipeline_id: str, status: PipelineStatus, error: PipelineError | None = None
    ) -> Pipeline:
        with self.transaction() as tx:
            return tx.set_status(pipeline_id, status, error)

    def mark_torn_down(self, pipeline_id: str) -> Pipeline:
        with self.transaction() as tx:
            return tx.mark_torn_down(pipeline_id)

    def apply_control(self, pipeline_id: str, control: ControlInput) -> Pipeline:
        with self.transaction() as tx:
            return tx.apply_control(pipeline_id, control)

    def purge(self, pipeline_id: str, *, force: bool = False) -> bool:
        with self.transaction() as tx:
            return tx.purge(pipeline_id, force=force)

    def resolve_secrets(self, pipeline: Pipeline) -> RevealedPipelineConfig:
        """The engine-ready config with plaintext secrets, for an in-process run."""
        return resolve_secrets(pipeline, self.configs)

    # --- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(
        self,
        pipeline_id: str,
        sync_state: BaseModel | dict[str, Any] | None,
        *,
        lane: CheckpointLane = CheckpointLane.BACKFILL,
        expected_version: int | None = None,
    ) -> int:
        with self.transaction() as tx:
            return tx.save_checkpoint(pipeline_id, sync_state, lane=lane, expected_version=expected_version)

    def get_checkpoint(self, pipeline_id: str, lane: CheckpointLane = CheckpointLane.BACKFILL) -> Checkpoint:
        with self._single_statement() as tx:
            return tx.get_checkpoint(pipeline_id, lane)

    def reset_checkpoints(self, pipeline_id: str, lanes: list[CheckpointLane] | None = None) -> Pipeline:
        with self.transaction() as tx:
            return tx.reset_checkpoints(pipeline_id, lanes)

    # --- webhook receiver and inbox -------------------------------------------------------------

    def webhook_target(self, pipeline_id: str) -> WebhookTarget | None:
        with self._single_statement() as tx:
            return tx.webhook_target(pipeline_id)

    def insert_inbox_event(
        self, pipeline_id: str, event_id: str, event_type: str, payload: dict[str, Any]
    ) -> bool:
        """Store a verified event; False if this pipeline already has it (a redelivery)."""
        with self._single_statement() as tx:
            return tx.insert_inbox_event(pipeline_id, event_id, event_type, payload)

    def pending_inbox(self, after_id: int = 0, limit: int = _inbox.DEFAULT_SCAN_LIMIT) -> list[InboxRef]:
        with self._single_statement() as tx:
            return tx.pending_inbox(after_id, limit)

    def pending_inbox_summary(
        self, after_id: int = 0, limit: int = _inbox.DEFAULT_SCAN_LIMIT
    ) -> list[InboxSummary]:
        with self._single_statement() as tx:
            return tx.pending_inbox_summary(after_id, limit)

    def count_pending_inbox(self, pipeline_id: str) -> int:
        with self._single_statement() as tx:
            return tx.count_pending_inbox(pipeline_id)
