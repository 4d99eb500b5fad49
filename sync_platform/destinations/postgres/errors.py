"""Errors the PostgreSQL destination raises on purpose; none of their messages carries a secret."""

from __future__ import annotations

from sync_platform.errors import SyncPlatformError


class PostgresDestinationError(SyncPlatformError, RuntimeError):
    """The PostgreSQL destination could not carry out an operation."""


class RecordContractError(PostgresDestinationError, ValueError):
    """A record breaks the destination contract (no primary key value, no ``newer_than_field``).

    Such a record cannot be placed in a table at all, so the stream fails loudly instead of the
    record being dropped: the fix belongs in the source.
    """

    def __init__(self, stream: str, problem: str) -> None:
        self.stream, self.problem = stream, problem
        super().__init__(
            f"A record of stream {stream!r} cannot be written: {problem}. Every record needs its "
            "primary key fields and its `newer_than_field` (unix seconds or an ISO-8601 time); "
            "fix the source that produced it."
        )


class StreamLayoutError(PostgresDestinationError, ValueError):
    """A stream cannot be laid out as a table (no primary key, a reserved name, a changed key)."""


class ProtectedSchemaError(PostgresDestinationError, PermissionError):
    """An operation was pointed at a schema it must never touch (a system schema; ``public`` for teardown)."""


class TableNotFoundError(PostgresDestinationError, LookupError):
    """A stream's table does not exist (yet) in the destination schema."""

    def __init__(self, schema: str, table: str, stream: str) -> None:
        self.schema, self.table, self.stream = schema, table, stream
        super().__init__(
            f"Table {schema}.{table} for stream {stream!r} does not exist. Run the pipeline's "
            "setup (or a sync, which creates missing tables) first."
        )
