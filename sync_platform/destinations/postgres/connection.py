"""Connections to the destination database, and the one writer thread that owns a write's connection.

Flushes run on a dedicated thread with a plain (blocking) psycopg connection: while PostgreSQL
applies one batch, the event loop keeps reading the source and encoding the next batch, so both
cores work. The thread also keeps blocking I/O off the event loop, where the source's HTTP requests
run. Error texts are redacted and stripped of the configured password before anyone sees them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict

from sync_platform.destinations.postgres.config import PostgresDestinationConfig
from sync_platform.destinations.postgres.errors import PostgresDestinationError
from sync_platform.destinations.postgres.upsert import Session
from sync_platform.redaction import MASK, redact

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")


class DestinationUnreachableError(PostgresDestinationError, ConnectionError):
    """The destination database refused or never answered a connection."""


def describe_error(error: BaseException, config: PostgresDestinationConfig) -> str:
    """The error's text with every secret masked, on one line."""
    text = " ".join(str(error).split()) or type(error).__name__
    try:
        password = conninfo_to_dict(config.conninfo()).get("password")
    except Exception:
        password = None
    if password:
        text = text.replace(str(password), MASK)
    return redact(text)


def connect(config: PostgresDestinationConfig) -> Connection:
    """An autocommit connection, or ``DestinationUnreachableError`` saying where and why (no secret)."""
    try:
        return psycopg.connect(config.conninfo(), autocommit=True)
    except psycopg.Error as error:
        raise DestinationUnreachableError(
            f"Cannot connect to PostgreSQL as {config.describe_target()}: {describe_error(error, config)}. "
            "Check that the server is reachable from here and that the user, password, database and "
            "sslmode in the destination config are right."
        ) from None


class WriterThread:
    """Runs jobs one at a time, in submission order, on one thread holding one connection.

    A job that breaks the connection (the server went away mid-batch) fails alone: the next job
    connects afresh, so other streams carry on when the database comes back.
    """

    def __init__(self, config: PostgresDestinationConfig) -> None:
        self._config = config
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgres-writer")
        self._session: Session | None = None  # used on the writer thread only

    def submit(self, job: Callable[[Session], T]) -> asyncio.Future[T]:
        loop = asyncio.get_running_loop()
        return loop.run_in_executor(self._executor, self._call, job)

    def _call(self, job: Callable[[Session], T]) -> T:
        session = self._session
        if session is None or session.connection.closed or session.connection.broken:
            self._discard()
            session = self._session = Session(connect(self._config))
        try:
            return job(session)
        except BaseException:
            if session.connection.broken or session.connection.closed:
                self._discard()
            raise

    def _discard(self) -> None:
        if self._session is not None:
            try:
                self._session.connection.close()
            finally:
                self._session = None

    def interrupt(self) -> None:
        """Ask the server to cancel the statement running now (safe from any thread)."""
        session = self._session
        connection = session.connection if session is not None else None
        if connection is not None and not connection.closed:
            try:
                connection.cancel_safe(timeout=5)
            except Exception:  # the connection is already gone: nothing to cancel
                logger.debug("cancel request to PostgreSQL failed", exc_info=True)

    async def close(self) -> None:
        """Close the connection and stop the thread once queued jobs have ended."""
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._discard)
        finally:
            self._executor.shutdown(wait=False)
