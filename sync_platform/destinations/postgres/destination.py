"""``PostgresDestination``: the connector the engine calls (spec, check, setup, teardown, write)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import psycopg

from sync_platform.destinations.postgres.config import PostgresDestinationConfig, parse_config
from sync_platform.destinations.postgres.connection import connect, describe_error
from sync_platform.destinations.postgres.provision import refuse_system_schema, setup_schema, teardown_schema
from sync_platform.destinations.postgres.writer import StreamWriter
from sync_platform.engine.connectors import Config
from sync_platform.errors import SyncPlatformError
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

    async def check(self, config: Config) -> ConnectionStatusPayload:
        """Connect and run ``SELECT 1``; every failure is a ``failed`` status with a secret-free reason."""
        try:
            parsed = parse_config(config)
        except SyncPlatformError as error:
            return ConnectionStatusPayload(status=ConnectionStatus.FAILED, message=str(error))
        try:
            await asyncio.to_thread(_select_one, parsed)
        except SyncPlatformError as error:
            return ConnectionStatusPayload(status=ConnectionStatus.FAILED, message=str(error))
        except psycopg.Error as error:  # connected, but the server refused the query
            message = (
                f"PostgreSQL at {parsed.describe_target()} refused SELECT 1: {describe_error(error, parsed)}."
            )
            return ConnectionStatusPayload(status=ConnectionStatus.FAILED, message=message)
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED)

    async def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        for message in await asyncio.to_thread(setup_schema, parsed, catalog):
            yield message

    async def teardown(self, config: Config) -> AsyncIterator[Message]:
        parsed = parse_config(config)
        for message in await asyncio.to_thread(teardown_schema, parsed):
            yield message

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
        finally:
            await writer.close()
