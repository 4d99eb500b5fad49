"""Errors the PostgreSQL destination raises on purpose; none of their messages carries a secret.

Each carries a ``failure_kind`` (``sync_platform.errors.FailureKind``) that the pipeline runner acts
on. A database error's kind comes from its type and SQLSTATE class (``postgres_failure_kind``),
never from its wording, which the server translates.
"""

from __future__ import annotations

import psycopg

from sync_platform.errors import FailureKind, SyncPlatformError, failure_kind_of

SQLSTATE_KINDS: dict[str, FailureKind] = {
    "42501": FailureKind.PERMISSION,  # insufficient_privilege
    "55P03": FailureKind.TRANSIENT,  # lock_not_available
}
"""Single SQLSTATEs whose kind differs from their class's."""

SQLSTATE_CLASS_KINDS: dict[str, FailureKind] = {
    "08": FailureKind.TRANSIENT,  # connection exception
    "28": FailureKind.AUTH,  # invalid authorization specification (28P01: invalid password)
    "3D": FailureKind.NOT_FOUND,  # invalid catalog name: the database does not exist
    "3F": FailureKind.NOT_FOUND,  # invalid schema name: the schema does not exist
    "22": FailureKind.INVALID_REQUEST,  # data exception: a value the column cannot hold
    "23": FailureKind.INVALID_REQUEST,  # integrity constraint violation (a CHECK, a foreign key...)
    "2B": FailureKind.INVALID_REQUEST,  # dependent objects still exist
    "54": FailureKind.INVALID_REQUEST,  # program limit exceeded (a key or row too big to index)
    "40": FailureKind.TRANSIENT,  # transaction rollback: serialization failure, deadlock
    "53": FailureKind.TRANSIENT,  # insufficient resources: disk full, out of memory, too many clients
    "57": FailureKind.TRANSIENT,  # operator intervention: admin shutdown, cannot connect now, canceled
    "58": FailureKind.TRANSIENT,  # system error (I/O)
}
"""SQLSTATE classes (their first two characters) and their kind; any other class is ``internal``
(a statement of ours the server refused: a bug, or a table altered under the destination)."""


def sqlstate_kind(sqlstate: str) -> FailureKind:
    return SQLSTATE_KINDS.get(sqlstate) or SQLSTATE_CLASS_KINDS.get(sqlstate[:2], FailureKind.INTERNAL)


def postgres_failure_kind(error: BaseException) -> FailureKind:
    """The kind of a failure met while talking to PostgreSQL (on an established connection).

    The server's errors by SQLSTATE; psycopg's own, which have none, by type: an
    ``OperationalError`` is a connection that broke or closed (``transient``), a ``DataError`` a
    value psycopg cannot send (``invalid_request``). Anything else as ``failure_kind_of`` says.
    """
    if isinstance(error, psycopg.Error):
        if error.sqlstate:
            return sqlstate_kind(error.sqlstate)
        if isinstance(error, psycopg.OperationalError):
            return FailureKind.TRANSIENT
        if isinstance(error, psycopg.DataError):
            return FailureKind.INVALID_REQUEST
        return FailureKind.INTERNAL
    return failure_kind_of(error)


class PostgresDestinationError(SyncPlatformError, RuntimeError):
    """The PostgreSQL destination could not carry out an operation; ``failure_kind`` says why."""

    failure_kind: FailureKind = FailureKind.INTERNAL

    def __init__(self, message: str, *, failure_kind: FailureKind | None = None) -> None:
        if failure_kind is not None:
            self.failure_kind = failure_kind
        super().__init__(message)


class RecordContractError(PostgresDestinationError, ValueError):
    """A record breaks the destination contract (no primary key value, no ``newer_than_field``).

    Such a record cannot be placed in a table at all, so the stream fails loudly instead of the
    record being dropped: the fix belongs in the source.
    """

    failure_kind = FailureKind.INVALID_REQUEST

    def __init__(self, stream: str, problem: str) -> None:
        self.stream, self.problem = stream, problem
        super().__init__(
            f"A record of stream {stream!r} cannot be written: {problem}. Every record needs its "
            "primary key fields and its `newer_than_field` (unix seconds or an ISO-8601 time); "
            "fix the source that produced it."
        )


class StreamLayoutError(PostgresDestinationError, ValueError):
    """A stream cannot be laid out as a table (no primary key, a reserved name, a changed key)."""

    failure_kind = FailureKind.CONFIG


class ProtectedSchemaError(PostgresDestinationError, PermissionError):
    """An operation was pointed at a schema it must never touch (a system schema; ``public`` for teardown)."""

    failure_kind = FailureKind.CONFIG


class TableNotFoundError(PostgresDestinationError, LookupError):
    """A stream's table does not exist (yet) in the destination schema."""

    failure_kind = FailureKind.NOT_FOUND

    def __init__(self, schema: str, table: str, stream: str) -> None:
        self.schema, self.table, self.stream = schema, table, stream
        super().__init__(
            f"Table {schema}.{table} for stream {stream!r} does not exist. Run the pipeline's "
            "setup (or a sync, which creates missing tables) first."
        )
