"""The pipeline store in the app PostgreSQL: a connection pool, migrations, and units of work.

Every method below is one short transaction (``with store.transaction() as tx: tx.<method>(...)``).
Use ``transaction()`` directly when several steps must commit together, such as a live run's
"claim inbox events, save the checkpoint, mark the events processed".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel

from sync_platform.engine.registry import ConnectorRegistry
from sync_platform.errors import FailureKind, SyncPlatformError
from sync_platform.pipelines import inbox as _inbox
from sync_platform.pipelines.admission import admit
from sync_platform.pipelines.checkpoints import Checkpoint, CheckpointLane
from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.inbox import InboxEvent, InboxRef, InboxSummary
from sync_platform.pipelines.migrations import migrate
from sync_platform.pipelines.model import Pipeline, PipelineCreate, PipelineUpdate
from sync_platform.pipelines.run_config import RevealedPipelineConfig, resolve_secrets
from sync_platform.pipelines.run_lock import RunLock
from sync_platform.pipelines.states import DesiredStatus, PipelineError, PipelineStatus
from sync_platform.pipelines.tables import Tables
from sync_platform.pipelines.transaction import ControlInput, StoreTransaction
from sync_platform.pipelines.vault import SecretVault
from sync_platform.pipelines.webhook_target import WebhookTarget
from sync_platform.redaction import redact

logger = logging.getLogger(__name__)

DEFAULT_SCHEMA = "sync_platform"
RECONNECT_SECONDS = 30.0
STORE_APPLICATION = "sync_platform store"  # how the store's connections show in pg_stat_activity

T = TypeVar("T")


def describe_database(dsn: str) -> str:
    """``database 'x' on host:port`` (or its socket directory): where, never who or the password."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "the configured database"
    host = str(info.get("host") or "localhost")
    port = f":{info['port']}" if info.get("port") else ""
    return f"database {info.get('dbname') or info.get('user') or 'postgres'!r} on {host}{port}"


class StoreUnavailableError(SyncPlatformError, ConnectionError):
    """The app database cannot be reached with the configured URL (after retrying, when it was lost)."""

    def __init__(self, dsn: str, cause: BaseException, *, waited: float | None = None) -> None:
        self.database = describe_database(dsn)
        reason = _sentence(" ".join(redact(str(cause)).split()))
        if waited is None:
            text = f"Cannot connect to the app {self.database}: {reason}"
        else:
            text = (
                f"Lost the app {self.database} and could not reconnect within {waited:.0f} s: {reason} "
                "Everything committed before that is kept; a new run resumes from the last saved checkpoint."
            )
        # Which setting gave the URL (a flag, an environment variable, a resource) is the caller's to
        # say: the CLI's hint names the one it used.
        super().__init__(f"{text} Check the app database's URL and that its server is running.")


def _sentence(text: str) -> str:
    """``text`` ending with one full stop (libpq's messages may end with "?" or with nothing)."""
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else f"{text}."


class PipelineStore:
    """Pipelines, their checkpoints and the webhook inbox, in schema ``schema`` of the app database.

    ``dsn`` is any libpq URL, including the embedded server's socket form
    ``postgresql://postgres:@/postgres?host=/tmp/...``. Pending migrations are applied on
    construction. ``registry`` validates connector configs against their specs (default: every
    installed connector); ``environ`` is where secrets and the encryption key are read from
    (default: the process environment, read at use).

    A connection the database drops (a restart, a failover, an administrator's
    ``pg_terminate_backend``) is not fatal: every method retries its unit of work on a fresh
    connection, with backoff, for up to ``reconnect_seconds``, then raises
    ``StoreUnavailableError`` naming the database. A unit of work is one transaction, so a retry
    either repeats work that never committed or (rarely: the connection died during COMMIT) work
    that did, which every write here tolerates: checkpoint writes are version-checked, inbox
    inserts and marks are idempotent, status writes re-apply the same rule.
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
        reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:
        self.tables = Tables(schema)
        self.configs = ConnectorConfigs(registry, SecretVault(environ))
        self.reconnect_seconds = reconnect_seconds
        self._dsn = dsn
        try:
            with psycopg.connect(dsn, autocommit=True) as connection:
                migrate(connection, schema)
        except psycopg.OperationalError as error:
            raise StoreUnavailableError(dsn, error) from None
        self._pool: ConnectionPool[psycopg.Connection[dict[str, Any]]] = ConnectionPool(
            dsn,
            min_size=min_connections,
            max_size=max_connections,
            kwargs={"autocommit": True, "row_factory": dict_row, "application_name": STORE_APPLICATION},
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
        """One unit of work: everything done through the yielded object commits together.

        Not retried when the connection drops (the block cannot be re-run from here): prefer
        ``atomically(work)``, which is.
        """
        with self._pool.connection() as connection, connection.transaction():
            yield StoreTransaction(connection, self.tables, self.configs)

    def atomically(self, work: Callable[[StoreTransaction], T]) -> T:
        """Run ``work`` in one transaction, re-running it on a fresh connection if one drops."""
        return self._retrying(work, atomic=True)

    def _retrying(self, work: Callable[[StoreTransaction], T], *, atomic: bool) -> T:
        deadline = time.monotonic() + self.reconnect_seconds
        delay = 0.1
        while True:
            try:
                wait = max(0.5, deadline - time.monotonic())  # for a pooled connection, then give up
                with self._pool.connection(timeout=wait) as connection:
                    if not atomic:
                        # One statement, autocommit: no BEGIN/COMMIT round trips (the webhook
                        # receiver's hot path is one primary-key read and one insert).
                        return work(StoreTransaction(connection, self.tables, self.configs))
                    with connection.transaction():
                        return work(StoreTransaction(connection, self.tables, self.configs))
            except psycopg.OperationalError as error:
                if time.monotonic() >= deadline:
                    raise StoreUnavailableError(self._dsn, error, waited=self.reconnect_seconds) from None
                logger.warning(
                    "lost the app %s (%s); retrying in %.1f s",
                    describe_database(self._dsn),
                    type(error).__name__,
                    delay,
                )
                time.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _read(self, work: Callable[[StoreTransaction], T]) -> T:
        return self._retrying(work, atomic=False)

    def run_lock(self, pipeline_id: str, *, holder: str, lane: str) -> RunLock:
        """The pipeline's run lock (a context manager); entering it refuses a second run."""
        return RunLock(
            self._dsn, self.tables, pipeline_id, holder=holder, lane=lane,
            reconnect_seconds=self.reconnect_seconds,
        )  # fmt: skip

    # --- pipelines ------------------------------------------------------------------------------

    def create(self, request: PipelineCreate) -> Pipeline:
        return self.atomically(lambda tx: tx.create(request))

    def validate_create(self, request: PipelineCreate) -> None:
        """Every offline check ``create`` makes (configs, streams), storing nothing and reading no
        table: a caller with a slower check to run first (the CLI's connection check) refuses bad
        input before it. ``create`` checks again, so skipping this is never unsafe."""
        admit(self.configs, request)

    def get(self, pipeline_id: str) -> Pipeline:
        return self._read(lambda tx: tx.get(pipeline_id))

    def find(self, pipeline_id: str) -> Pipeline | None:
        return self._read(lambda tx: tx.find(pipeline_id))

    def get_without_checkpoints(self, pipeline_id: str) -> Pipeline:
        """``get`` without reading the checkpoints (``sync_state``, ``live_state``: ``None``); see
        ``StoreTransaction.get_without_checkpoints``. Read them with ``get_checkpoint``."""
        return self._read(lambda tx: tx.get_without_checkpoints(pipeline_id))

    def list_pipelines(self, *, include_deleted: bool = False, checkpoints: bool = True) -> list[Pipeline]:
        return self._read(
            lambda tx: tx.list_pipelines(include_deleted=include_deleted, checkpoints=checkpoints)
        )

    def update(
        self, pipeline_id: str, change: PipelineUpdate, *, expected_version: int | None = None
    ) -> Pipeline:
        return self.atomically(lambda tx: tx.update(pipeline_id, change, expected_version=expected_version))

    def pause(self, pipeline_id: str, *, expected_version: int | None = None) -> Pipeline:
        return self._desire(pipeline_id, DesiredStatus.PAUSED, expected_version)

    def resume(self, pipeline_id: str, *, expected_version: int | None = None) -> Pipeline:
        """Set ``active``; on a failed pipeline this also clears the error so the platform retries."""
        return self._desire(pipeline_id, DesiredStatus.ACTIVE, expected_version)

    def delete(self, pipeline_id: str, *, expected_version: int | None = None) -> Pipeline:
        """Ask for teardown (``desired_status = deleted``); the platform tears down, then marks it."""
        return self._desire(pipeline_id, DesiredStatus.DELETED, expected_version)

    def _desire(self, pipeline_id: str, desired: DesiredStatus, expected_version: int | None) -> Pipeline:
        return self.atomically(
            lambda tx: tx.set_desired_status(pipeline_id, desired, expected_version=expected_version)
        )

    # The platform's writes below answer the pipeline row without its checkpoints (``sync_state``,
    # ``live_state``: ``None``, unread; see ``StoreTransaction.modify``); a user's change above
    # (``update``, ``pause``, ``resume``, ``delete``) answers it whole.

    def set_status(
        self, pipeline_id: str, status: PipelineStatus, error: PipelineError | None = None
    ) -> Pipeline:
        return self.atomically(lambda tx: tx.set_status(pipeline_id, status, error))

    def mark_torn_down(self, pipeline_id: str) -> Pipeline:
        return self.atomically(lambda tx: tx.mark_torn_down(pipeline_id))

    def apply_control(self, pipeline_id: str, control: ControlInput) -> Pipeline:
        return self.atomically(lambda tx: tx.apply_control(pipeline_id, control))

    def purge(self, pipeline_id: str, *, force: bool = False) -> bool:
        return self.atomically(lambda tx: tx.purge(pipeline_id, force=force))

    def record_failure(
        self,
        pipeline_id: str,
        *,
        kind: FailureKind,
        message: str,
        stream: str | None = None,
        lane: str | None = None,
        run: str | None = None,
    ) -> Pipeline:
        return self.atomically(
            lambda tx: tx.record_failure(
                pipeline_id, kind=kind, message=message, stream=stream, lane=lane, run=run
            )
        )

    def record_success(self, pipeline_id: str) -> Pipeline:
        return self.atomically(lambda tx: tx.record_success(pipeline_id))

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
        # One statement (an INSERT or a version-checked UPDATE ... RETURNING), atomic on its own, so
        # no BEGIN and COMMIT round trips: a backfill at Stripe's rate saves ~100 checkpoints a
        # second, and each round trip is a wake-up of the writer's thread and work for the server.
        # A save whose answer was lost is retried and then fails its version check, which the
        # checkpoint writer recognises as its own write.
        return self._retrying(
            lambda tx: tx.save_checkpoint(
                pipeline_id, sync_state, lane=lane, expected_version=expected_version
            ),
            atomic=False,
        )

    def get_checkpoint(self, pipeline_id: str, lane: CheckpointLane = CheckpointLane.BACKFILL) -> Checkpoint:
        return self._read(lambda tx: tx.get_checkpoint(pipeline_id, lane))

    def checkpoints_updated_at(self, pipeline_id: str) -> dict[CheckpointLane, datetime | None]:
        """When each lane last saved its checkpoint (``None``: never), without reading the states."""
        return self._read(lambda tx: tx.checkpoints_updated_at(pipeline_id))

    def reset_checkpoints(self, pipeline_id: str, lanes: list[CheckpointLane] | None = None) -> Pipeline:
        return self.atomically(lambda tx: tx.reset_checkpoints(pipeline_id, lanes))

    # --- webhook receiver and inbox -------------------------------------------------------------

    def webhook_target(self, pipeline_id: str) -> WebhookTarget | None:
        return self._read(lambda tx: tx.webhook_target(pipeline_id))

    def insert_inbox_event(
        self, pipeline_id: str, event_id: str, event_type: str, payload: dict[str, Any]
    ) -> bool:
        """Store a verified event; False if this pipeline already has it (a redelivery)."""
        return self._read(lambda tx: tx.insert_inbox_event(pipeline_id, event_id, event_type, payload))

    def pending_inbox(self, after_id: int = 0, limit: int = _inbox.DEFAULT_SCAN_LIMIT) -> list[InboxRef]:
        return self._read(lambda tx: tx.pending_inbox(after_id, limit))

    def pending_inbox_summary(
        self, after_id: int = 0, limit: int = _inbox.DEFAULT_SCAN_LIMIT
    ) -> list[InboxSummary]:
        return self._read(lambda tx: tx.pending_inbox_summary(after_id, limit))

    def claim_inbox_events(
        self, pipeline_id: str, limit: int = _inbox.DEFAULT_CLAIM_LIMIT
    ) -> list[InboxEvent]:
        """The oldest pending events of a pipeline (the caller holds its run lock)."""
        return self.atomically(lambda tx: tx.claim_inbox_events(pipeline_id, limit=limit))

    def prune_processed_inbox(self, before: datetime, pipeline_id: str | None = None) -> int:
        """Retention: delete inbox rows applied before ``before``; pending ones are always kept."""
        return self.atomically(lambda tx: tx.prune_processed_inbox(before, pipeline_id))

    def count_pending_inbox(self, pipeline_id: str) -> int:
        return self._read(lambda tx: tx.count_pending_inbox(pipeline_id))
