"""The app database schema as an ordered list of SQL migrations, applied once, safely, at start-up.

Every process that opens the store (CLI, webhook receiver, Dagster code server) applies pending
migrations itself, so there is no separate "migrate" step to forget. Two processes starting at
once serialise on a transaction-scoped advisory lock taken *before* ``CREATE SCHEMA``, and all
pending migrations commit in one transaction with their rows in ``schema_migrations``: a crash
leaves the schema either before or after, never half-migrated. A migration that was edited after
it was applied is refused by its checksum, since the database would silently disagree with the code.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from sync_platform.errors import ConfigError, SyncPlatformError

logger = logging.getLogger(__name__)

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Migration:
    """One step; ``{schema}`` in the SQL is replaced by the quoted schema name."""

    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()[:16]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "pipelines",
        """
        CREATE TABLE {schema}.pipelines (
            id text PRIMARY KEY CHECK (id ~ '^[a-z][a-z0-9_-]{{2,63}}$'),
            source jsonb NOT NULL,
            destination jsonb NOT NULL,
            streams jsonb,
            desired_status text NOT NULL CHECK (desired_status IN ('active', 'paused', 'deleted')),
            status text NOT NULL
                CHECK (status IN ('setup', 'backfill', 'ready', 'paused', 'teardown', 'error')),
            resume_status text CHECK (resume_status IN ('setup', 'backfill', 'ready')),
            error jsonb,
            version bigint NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            torn_down_at timestamptz,
            CHECK ((status = 'error') OR error IS NULL)
        );
        CREATE TABLE {schema}.checkpoints (
            pipeline_id text NOT NULL REFERENCES {schema}.pipelines (id) ON DELETE CASCADE,
            lane text NOT NULL CHECK (lane IN ('backfill', 'live')),
            state jsonb,
            version bigint NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (pipeline_id, lane)
        );
        """,
    ),
    Migration(
        2,
        "webhook_inbox",
        """
        CREATE TABLE {schema}.webhook_inbox (
            id bigserial PRIMARY KEY,
            pipeline_id text NOT NULL REFERENCES {schema}.pipelines (id) ON DELETE CASCADE,
            event_id text NOT NULL,
            event_type text NOT NULL,
            payload jsonb NOT NULL,
            received_at timestamptz NOT NULL DEFAULT now(),
            processed_at timestamptz,
            UNIQUE (pipeline_id, event_id)
        );
        -- The sensor scans "pending after id X" and a run claims "pending of pipeline P up to id X".
        CREATE INDEX webhook_inbox_pending ON {schema}.webhook_inbox (id) WHERE processed_at IS NULL;
        CREATE INDEX webhook_inbox_pending_by_pipeline
            ON {schema}.webhook_inbox (pipeline_id, id) WHERE processed_at IS NULL;
        """,
    ),
    Migration(
        3,
        "pipeline_runner",
        """
        ALTER TABLE {schema}.pipelines
            ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0);
        -- Who holds a pipeline's run lock (a session advisory lock): named when a second run is refused.
        CREATE TABLE {schema}.run_locks (
            pipeline_id text PRIMARY KEY REFERENCES {schema}.pipelines (id) ON DELETE CASCADE,
            holder text NOT NULL,
            lane text NOT NULL,
            acquired_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    Migration(
        4,
        "inbox_original_payload",
        """
        -- The event exactly as received, when its payload had to be repaired to be storable (a NUL,
        -- a lone surrogate, a NaN): JSON text with every such character escaped.
        ALTER TABLE {schema}.webhook_inbox ADD COLUMN original_payload bytea;
        -- Retention: processed rows are pruned by age.
        CREATE INDEX webhook_inbox_processed ON {schema}.webhook_inbox (processed_at)
            WHERE processed_at IS NOT NULL;
        """,
    ),
    Migration(
        5,
        "service",
        """
        -- Bearer tokens of the HTTP API and the console. Only a SHA-256 of each token is kept (a
        -- token is 256 random bits, so a fast hash is enough); `prefix` lets a person recognise one.
        CREATE TABLE {schema}.api_tokens (
            id text PRIMARY KEY,
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
            scope text NOT NULL CHECK (scope IN ('read', 'admin')),
            token_hash text NOT NULL UNIQUE,
            prefix text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            last_used_at timestamptz,
            revoked_at timestamptz
        );
        CREATE UNIQUE INDEX api_tokens_live_name ON {schema}.api_tokens (name) WHERE revoked_at IS NULL;
        -- Runs started outside Dagster (the CLI, the HTTP API, the console): a pipeline's run history
        -- shows them beside its Dagster runs.
        CREATE TABLE {schema}.pipeline_runs (
            id text PRIMARY KEY,
            pipeline_id text NOT NULL REFERENCES {schema}.pipelines (id) ON DELETE CASCADE,
            origin text NOT NULL,
            holder text NOT NULL,
            lanes text[] NOT NULL DEFAULT '{{}}',
            status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'cancelled')),
            batches integer NOT NULL DEFAULT 0,
            records bigint NOT NULL DEFAULT 0,
            events_applied integer NOT NULL DEFAULT 0,
            error text,
            started_at timestamptz NOT NULL DEFAULT now(),
            finished_at timestamptz
        );
        CREATE INDEX pipeline_runs_recent ON {schema}.pipeline_runs (pipeline_id, started_at DESC);
        """,
    ),
)


class MigrationError(SyncPlatformError, RuntimeError):
    """The database schema disagrees with the migrations in this version of sync_platform."""


def check_schema_name(schema: str) -> str:
    if not SCHEMA_NAME.match(schema):
        raise ConfigError(
            f"Invalid app database schema name {schema!r}: use lowercase letters, digits and _ "
            "(at most 63, not starting with a digit).",
            field="schema",
        )
    return schema


def migrate(
    connection: psycopg.Connection[Any], schema: str, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Apply the pending ``migrations`` to ``schema``; return the versions applied (empty if none)."""
    check_schema_name(schema)
    quoted = sql.Identifier(schema)
    with connection.transaction():
        connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"sync_platform.migrate:{schema}",))
        connection.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(quoted))
        connection.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_migrations (version integer PRIMARY KEY, "
                "name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(quoted)
        )
        with connection.cursor(row_factory=tuple_row) as cursor:
            rows = cursor.execute(
                sql.SQL("SELECT version, checksum FROM {}.schema_migrations").format(quoted)
            ).fetchall()
        applied = {int(version): str(checksum) for version, checksum in rows}
        known = {migration.version for migration in migrations}
        if unknown := sorted(set(applied) - known):
            raise MigrationError(
                f"Schema {schema!r} has migration(s) {unknown} that this version of sync_platform does not "
                "know: it was migrated by a newer version. Upgrade sync_platform."
            )
        done: list[int] = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"Migration {migration.version} ({migration.name}) of schema {schema!r} was changed "
                        "after it was applied. Never edit an applied migration; add a new one instead."
                    )
                continue
            connection.execute(sql.SQL(migration.sql).format(schema=quoted))
            connection.execute(
                sql.SQL(
                    "INSERT INTO {}.schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
                ).format(quoted),
                (migration.version, migration.name, migration.checksum),
            )
            done.append(migration.version)
    if done:
        logger.info("applied app database migrations %s to schema %s", done, schema, extra={"schema": schema})
    return done
