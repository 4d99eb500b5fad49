"""Test connectors for the CLI: a destination that writes real rows into PostgreSQL, and a source
whose check fails by quoting its API key (as a careless connector would), to prove redaction.

``RowsDestination`` honours the destination contract the way the Postgres destination does: it
creates its table in ``setup`` (so a pipeline must be set up before its first write), upserts
each record, and commits before it re-emits a ``source_state`` (the commit fence). Its ``dsn`` is
a secret field, like a real database URL with a password.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb
from pydantic import BaseModel, ConfigDict, SecretStr

from sync_platform.engine import Config
from sync_platform.protocol import (
    ConfiguredCatalog,
    ConnectionStatus,
    ConnectionStatusPayload,
    ConnectorSpecification,
    Message,
    RecordMessage,
    SourceStateMessage,
    log,
)
from sync_platform_tests.plugins.pipelines import SecretiveSource, SecretiveSourceConfig


class RowsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dsn: SecretStr
    schema_name: str = "public"
    table: str = "rows"


def rows_table(config: RowsConfig) -> sql.Identifier:
    return sql.Identifier(config.schema_name, config.table)


async def connect(config: RowsConfig, **kwargs: Any) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(config.dsn.get_secret_value(), **kwargs)


class RowsDestination:
    """Registered as ``rows`` in CLI tests: one table of ``(stream, id, account_id, data)``."""

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(config=RowsConfig.model_json_schema())

    async def check(self, config: Config) -> ConnectionStatusPayload:
        parsed = RowsConfig.model_validate(config)
        try:
            async with await connect(parsed, connect_timeout=3):
                pass
        except psycopg.Error as error:
            return ConnectionStatusPayload(status=ConnectionStatus.FAILED, message=f"cannot connect: {error}")
        return ConnectionStatusPayload(status=ConnectionStatus.SUCCEEDED)

    async def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        parsed = RowsConfig.model_validate(config)
        async with await connect(parsed, autocommit=True) as db:
            schema = sql.Identifier(parsed.schema_name)
            await db.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
            await db.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (stream text, id text, account_id text, "
                    "data jsonb NOT NULL, PRIMARY KEY (stream, id, account_id))"
                ).format(rows_table(parsed))
            )
        yield log("info", f"rows: table {parsed.schema_name}.{parsed.table} ready")

    async def teardown(self, config: Config) -> AsyncIterator[Message]:
        parsed = RowsConfig.model_validate(config)
        async with await connect(parsed, autocommit=True) as db:
            await db.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(rows_table(parsed)))
        return
        yield  # pragma: no cover - makes this an async generator

    async def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        parsed = RowsConfig.model_validate(config)
        upsert = sql.SQL(
            "INSERT INTO {} (stream, id, account_id, data) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (stream, id, account_id) DO UPDATE SET data = EXCLUDED.data"
        ).format(rows_table(parsed))
        async with await connect(parsed) as db:
            async for message in messages:
                if isinstance(message, RecordMessage):
                    data: dict[str, Any] = message.record.data
                    await db.execute(
                        upsert, (message.record.stream, data["id"], data.get("_account_id", ""), Jsonb(data))
                    )
                elif isinstance(message, SourceStateMessage):
                    await db.commit()  # every record before this state is durable: re-emit it
                yield message
            await db.commit()


class RejectingSource(SecretiveSource):
    """Registered as ``rejecting``: its check fails with a message that quotes the API key."""

    async def check(self, config: Config) -> ConnectionStatusPayload:
        key = SecretiveSourceConfig.model_validate(config).api_key.get_secret_value()
        message = f"Invalid API Key provided: {key}"
        return ConnectionStatusPayload(status=ConnectionStatus.FAILED, message=message)
