"""Connections to the destination database, and the queue that runs a write's flushes in order.

Setup, teardown, ``check`` and the read helpers use short-lived blocking connections (run off the
event loop by their callers). A ``write()`` flushes through one async connection, so that while
PostgreSQL applies a batch the same event loop goes on reading the source and encoding the next
batch; no thread competes for the interpreter. Error texts are redacted and stripped of the
configured password before anyone sees them.

A failed connection attempt carries no SQLSTATE: libpq reports the server's refusal as text only.
Its kind comes from what libpq knows about the attempt instead (``connect_failure_kind``): the
server asked for a password (and either none was configured or it was refused) is ``auth``;
anything else (refused, unreachable, timed out, a server starting up or shutting down) is
``transient``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict

from sync_platform.destinations.postgres.config import PostgresDestinationConfig
from sync_platform.destinations.postgres.errors import (
    PostgresDestinationError,
    postgres_failure_kind,
    sqlstate_kind,
)
from sync_platform.destinations.postgres.upsert import Session
from sync_platform.errors import FailureKind
from sync_platform.redaction import MASK, redact

logger = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[object, ...]]
T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


class DestinationUnreachableError(PostgresDestinationError, ConnectionError):
    """The destination database refused or never answered a connection (``connect_failure_kind``)."""

    failure_kind = FailureKind.TRANSIENT


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


def connect_failure_kind(error: psycopg.Error) -> FailureKind:
    """The kind of a failed connection attempt.

    libpq keeps the SQLSTATE of a server's refusal to itself, so psycopg raises a bare
    ``OperationalError``; what it does expose is whether the server asked for a password. A
    refusal after that is taken as the password's (a server that accepts the password and then
    refuses, say for a database that does not exist, reads as ``auth`` too: either way the user
    must fix the config, and the message says which). An error that does carry a SQLSTATE is
    mapped by it.
    """
    if error.sqlstate:
        return sqlstate_kind(error.sqlstate)
    pgconn = error.pgconn
    if pgconn is not None and (pgconn.needs_password or pgconn.used_password):
        return FailureKind.AUTH
    return FailureKind.TRANSIENT


def _unreachable(error: psycopg.Error, config: PostgresDestinationConfig) -> DestinationUnreachableError:
    return DestinationUnreachableError(
        f"Cannot connect to PostgreSQL as {config.describe_target()}: {describe_error(error, config)}. "
        "Check that the server is reachable from here and that the user, password, database and "
        "sslmode in the destination config are right.",
        failure_kind=connect_failure_kind(error),
    )


def scrubbed(error: E, config: PostgresDestinationConfig) -> E:
    """``error`` with its text masked as ``describe_error`` masks it, to keep as the ``__cause__``
    of the destination's own error: whatever reads a chain's innermost text (tracebacks, the
    pipeline runner, which records the root cause) meets no secret there either."""
    error.args = (describe_error(error, config),)
    return error


def connect(config: PostgresDestinationConfig) -> Connection:
    """An autocommit connection, or ``DestinationUnreachableError`` saying where and why (no secret)."""
    try:
        return psycopg.connect(config.conninfo(), autocommit=True)
    except psycopg.Error as error:
        unreachable = _unreachable(error, config)
        raise unreachable from scrubbed(error, config)


async def connect_async(config: PostgresDestinationConfig) -> AsyncConnection:
    """``connect`` for the event loop."""
    try:
        return await psycopg.AsyncConnection.connect(config.conninfo(), autocommit=True)
    except psycopg.Error as error:
        unreachable = _unreachable(error, config)
        raise unreachable from scrubbed(error, config)


def database_error(
    error: BaseException, config: PostgresDestinationConfig, doing: str
) -> PostgresDestinationError:
    """``error``, met while ``doing`` something, as the destination's own error: its kind, and its
    text without secrets. Raise it ``from scrubbed(error, config)`` to keep the original as its
    cause."""
    return PostgresDestinationError(
        f"PostgreSQL at {config.describe_target()} failed while {doing}: {describe_error(error, config)}.",
        failure_kind=postgres_failure_kind(error),
    )


class WriterQueue:
    """Runs flush jobs one at a time, in submission order, on one async connection.

    Jobs are tasks on the event loop: while PostgreSQL applies one batch, the write loop keeps
    reading the source and encoding the next one. A job that breaks the connection (the server
    went away mid-batch) fails alone: the next job connects afresh, so other streams carry on when
    the database comes back.
    """

    def __init__(self, config: PostgresDestinationConfig) -> None:
        self._config = config
        self._turn = asyncio.Lock()  # FIFO: waiters are woken in the order they queued
        self._session: Session | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def submit(self, job: Callable[[Session], Awaitable[T]]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(self._run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, job: Callable[[Session], Awaitable[T]]) -> T:
        async with self._turn:
            session = self._session
            if session is None or session.connection.closed or session.connection.broken:
                await self._discard()
                session = self._session = Session(await connect_async(self._config))
            try:
                return await job(session)
            except BaseException:
                if session.connection.broken or session.connection.closed:
                    await self._discard()
                raise

    async def _discard(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            with contextlib.suppress(psycopg.Error):
                await session.connection.close()

    async def close(self) -> None:
        """Cancel queued and running jobs (psycopg cancels a running query), then disconnect."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for task in tasks:  # retrieved, so an abandoned failure is not reported as unhandled
            if not task.cancelled():
                task.exception()
        await self._discard()
