"""``PostgresDestination``: the connector the engine calls (spec, check, setup, teardown, write).

Every failure says its kind: ``check``'s failed status carries it, and whatever setup, teardown and
write raise is one of the destination's errors, with its ``failure_kind`` (a database error is
wrapped, the original kept as its ``__cause__``); see ``errors`` and ``connection``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import psycopg

from sync_platform.destinations.postgres.config import PostgresDestinationConfig, parse_config
from sync_platform.destinations.postgres.connection import connect, database_error, describe_error, scrubbed
from sync_platform.destinations.postgres.errors import postgres_failure_kind
from sync_platform.destinations.postgres.naming import is_system_schema
from sync_platform.destinations.postgres.provision import (
    prune_tombstones,
    purge_account,
    refuse_system_schema,
    setup_schema,
    teardown_schema,
)
from sync_platform.destinations.postgres.writer import StreamWriter
from sync_platform.engine.connectors import Config
from sync_platform.errors import ConfigError, FailureKind, SyncPlatformError, failure_kind_of
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusPayload,
    ConnectorSpecification,
    Message,
)


def _select_one(config: PostgresDestinationConfig) -> None:
    with connect(config) as connection:
        connection.execute("SELECT 1").fetchone()


class PostgresDestination:
    """Registered as ``postgres``: typed tables, COPY-speed newer-wins upserts, safe deletes."""

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(config=PostgresDestinationConfig.model_json_schema())

    def validate_config(self, config: Config) -> None:
        """Offline: a server (``url`` or ``host``), a parsable ``url``, a schema PostgreSQL can name
        (at most 63 bytes) that is not one of its own."""
        schema = config.get("schema")
        if isinstance(schema, str) and is_system_schema(schema):  # before the url, which may be unread
            raise ConfigError(
                f"The postgres destination's `schema` {schema!r} is one of PostgreSQL's own schemas. "
                "Set `schema` to a schema of your own (the default is 'stripe').",
                field="schema",
                connector="postgres",
            )
        parse_config(config)

    async def check(self, config: Config) -> ConnectionStatusPayload:
        """Connect and run ``SELECT 1``; every failure is a ``failed`` status with a secret-free reason."""
        try:
            parsed = parse_config(config)
        except SyncPlatformError as error:
            return _failed(str(error), failure_kind_of(error))
        try:
            await asyncio.to_thread(_select_one, parsed)
        except SyncPlatformError as error:
            return _failed(str(error), failure_kind_of(error))
        except psycopg.Error as error:  # connected, but the server refused the query
            message = (
                f"PostgreSQL at {parsed.describe_target()} refused SELECT 1: {describe_error(error, parsed)}."
            )
            return _failed(message, postgres_failure_kind(error))
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED)

    async def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        try:
            messages = await asyncio.to_thread(setup_schema, parsed, catalog)
        except psycopg.Error as error:
            doing = f"setting up schema {parsed.schema_name!r}"
            raise database_error(error, parsed, doing) from scrubbed(error, parsed)
        for message in messages:
            yield message

    async def teardown(self, config: Config) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        try:
            messages = await asyncio.to_thread(teardown_schema, parsed)
        except psycopg.Error as error:
            doing = f"tearing down schema {parsed.schema_name!r}"
            raise database_error(error, parsed, doing) from scrubbed(error, parsed)
        for message in messages:
            yield message

    def prune_tombstones(self, config: Config, older_than: datetime) -> int:
        """The destination kit's retention hook: forget deletions older than ``older_than``."""
        parsed = parse_config(config)
        try:
            return prune_tombstones(parsed, older_than)
        except psycopg.Error as error:
            raise database_error(error, parsed, "pruning tombstones") from scrubbed(error, parsed)

    def purge_account(self, config: Config, account_id: str) -> int:
        """The destination kit's purge hook: delete one account's rows from every table."""
        parsed = parse_config(config)
        try:
            return purge_account(parsed, account_id)
        except psycopg.Error as error:
            raise database_error(error, parsed, "purging an account's rows") from scrubbed(error, parsed)

    async def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        """Upsert records and re-emit each state once everything before it is committed."""
        parsed = parse_config(config)
        refuse_system_schema(parsed.schema_name, "write tables")
        writer = StreamWriter(parsed, catalog)
        try:
            async for message in messages:
                await writer.accept(message)
                for ready in writer.ready():
                    yield ready
            await writer.finish()
            for ready in [*writer.ready(), *writer.summary()]:
                yield ready
        except psycopg.Error as error:  # the writer reports database errors per stream; a safety net
            raise database_error(error, parsed, "writing") from scrubbed(error, parsed)
        finally:
            await writer.close()


def _failed(message: str, kind: FailureKind) -> ConnectionStatusPayload:
    return ConnectionStatusPayload(status=ConnectionStatus.FAILED, message=message, failure_kind=kind)
