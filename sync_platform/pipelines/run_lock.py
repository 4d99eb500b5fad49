"""One run per pipeline, across processes: a PostgreSQL advisory lock in the app database.

Dagster's run queue already keeps one Dagster run per pipeline, but a CLI ``sync-batch`` (or a
second CLI) can run the same pipeline at the same time; two runs would each do a batch of work
before one of them lost the checkpoint race. The runner takes this lock *before* any work: a
session-level advisory lock held on a connection of its own, so it is released the moment the
holder's process dies (no stale locks to clean up by hand). Who holds it is written to
``run_locks`` so a refused run can name the run that is in its way.

If the lock's connection drops (the database restarted), ``verify`` reconnects and takes the lock
again; if another run took it in between, the holder stops with ``PipelineBusyError`` before it
writes another checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime
from typing import Any, Self

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from sync_platform.errors import SyncPlatformError
from sync_platform.pipelines.tables import Tables

logger = logging.getLogger(__name__)

RECONNECT_SECONDS = 30.0
LOCK_APPLICATION = "sync_platform run lock"  # how the lock's connection shows in pg_stat_activity


class PipelineBusyError(SyncPlatformError, RuntimeError):
    """Another run holds the pipeline: refused before doing any work (exit code 3, an HTTP 409)."""

    http_status = 409

    def __init__(
        self, pipeline_id: str, holder: str | None, lane: str | None, since: datetime | None
    ) -> None:
        self.pipeline_id, self.holder = pipeline_id, holder
        who = holder or "another run"
        detail = f" ({lane} lane, since {since:%Y-%m-%d %H:%M:%S} UTC)" if lane and since else ""
        super().__init__(
            f"Pipeline {pipeline_id!r} is being synced by {who}{detail}; only one run per pipeline runs "
            "at a time. Wait for it to finish (or stop it), then try again."
        )


def _key_parts(tables: Tables, pipeline_id: str) -> tuple[str, str]:
    return f"sync_platform.run:{tables.schema}", pipeline_id


class RunLock:
    """The lock of one pipeline for one run; use as a context manager around the run."""

    def __init__(
        self, dsn: str, tables: Tables, pipeline_id: str, *, holder: str, lane: str,
        reconnect_seconds: float = RECONNECT_SECONDS,
    ) -> None:  # fmt: skip
        self.dsn = dsn
        self.tables = tables
        self.pipeline_id = pipeline_id
        self.holder = holder
        self.lane = lane
        self.reconnect_seconds = reconnect_seconds
        self._connection: psycopg.Connection[Any] | None = None

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock now or raise ``PipelineBusyError`` naming who has it."""
        connection = psycopg.connect(
            self.dsn, autocommit=True, row_factory=dict_row, application_name=LOCK_APPLICATION
        )
        try:
            self._take(connection)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def _take(self, connection: psycopg.Connection[Any]) -> None:
        row = connection.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s)) AS taken",
            _key_parts(self.tables, self.pipeline_id),
        ).fetchone()
        if not (row and row["taken"]):
            holder = connection.execute(
                sql.SQL("SELECT holder, lane, acquired_at FROM {} WHERE pipeline_id = %s").format(
                    self.tables.run_locks
                ),
                (self.pipeline_id,),
            ).fetchone()
            raise PipelineBusyError(
                self.pipeline_id,
                holder["holder"] if holder else None,
                holder["lane"] if holder else None,
                holder["acquired_at"] if holder else None,
            )
        connection.execute(
            sql.SQL(
                "INSERT INTO {} (pipeline_id, holder, lane) SELECT id, %s, %s FROM {} WHERE id = %s "
                "ON CONFLICT (pipeline_id) DO UPDATE SET holder = EXCLUDED.holder, lane = EXCLUDED.lane, "
                "acquired_at = now()"
            ).format(self.tables.run_locks, self.tables.pipelines),
            (self.holder, self.lane, self.pipeline_id),
        )

    def set_lane(self, lane: str) -> None:
        """Show which lane the holder is in now (a run may go through several)."""
        self.lane = lane
        if self._connection is not None and not self._connection.closed:
            with contextlib.suppress(psycopg.OperationalError):  # verify() reconnects later
                self._connection.execute(
                    sql.SQL("UPDATE {} SET lane = %s WHERE pipeline_id = %s AND holder = %s").format(
                        self.tables.run_locks
                    ),
                    (lane, self.pipeline_id, self.holder),
                )

    def verify(self) -> None:
        """Still ours? After a dropped connection, reconnect (bounded) and take the lock again."""
        connection = self._connection
        if connection is not None and not connection.closed:
            try:
                connection.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                connection.close()
        deadline = time.monotonic() + self.reconnect_seconds
        delay = 0.2
        while True:
            try:
                fresh = psycopg.connect(
                    self.dsn,
                    autocommit=True,
                    row_factory=dict_row,
                    connect_timeout=5,
                    application_name=LOCK_APPLICATION,
                )
            except psycopg.OperationalError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            try:
                self._take(fresh)
            except BaseException:
                fresh.close()
                raise
            logger.warning("re-took the run lock of pipeline %s after a lost connection", self.pipeline_id)
            self._connection = fresh
            return

    def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.closed:
            return
        try:
            connection.execute(
                sql.SQL("DELETE FROM {} WHERE pipeline_id = %s AND holder = %s").format(
                    self.tables.run_locks
                ),
                (self.pipeline_id, self.holder),
            )
            connection.execute(
                "SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))",
                _key_parts(self.tables, self.pipeline_id),
            )
        except psycopg.Error as error:  # best effort: closing the session releases the lock anyway
            logger.debug("releasing the run lock of %s: %s", self.pipeline_id, error)
        finally:
            connection.close()
