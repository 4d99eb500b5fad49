"""One flush: COPY a batch into staging, then apply it with newer-wins upserts and safe deletes.

Versions are ordered by the destination kit's rule (``engine/destination_kit/versions.py``: the
later ``_updated_at`` wins, at equal times a tombstone beats a live version, and between two live
versions of equal time the greater SHA-256 of the canonical JSON wins, the same whatever order they
arrive in). For speed the comparisons run inside the flush's statements; every one of them is the
kit's ``sql_beats`` (or ``sql_newest_first``) over the kit's ``VersionSql`` spelling of a staged
version, a row, or a remembered tombstone, so the order exists once. The canonical JSON is
PostgreSQL's own text of ``_raw_data``, so the digest needs no column and is computed only for two
live versions of the same time. An identical replay is not newer, so it is skipped and writes
nothing.

Deletes are hard (the row leaves its table) but remembered in ``_sync_tombstones``: a live version
is written only if it beats the object's tombstone, so an out-of-order older update or a reconcile
re-read cannot resurrect a deleted object, while a genuinely newer version (a re-created object)
wins and clears the tombstone (reference bug #19). ``prune_tombstones`` forgets old ones.

All statements of a flush run in one transaction, under a per-table advisory lock so concurrent
writers (webhook and reconcile runs) apply their batches one after the other; READ COMMITTED then
sees the other writer's committed rows and tombstones.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from dataclasses import dataclass, field

import psycopg
from psycopg import AsyncConnection, sql

from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn
from sync_platform.destinations.postgres.naming import (
    RAW_DATA,
    SYNCED_AT,
    TOMBSTONES_TABLE,
    UPDATED_AT,
    is_identifier_safe,
)
from sync_platform.destinations.postgres.type_rules import (
    FAST_RECORD_TYPES,
    ColumnKind,
    sql_fast_value,
    sql_value,
)
from sync_platform.engine.destination_kit import VersionSql, sql_beats, sql_newest_first

# Each version the flush compares, in the kit's SQL spelling: a staged record (``s``, in the
# dedupe without an alias), the inserted version (``excluded``), a row (``t``), a tombstone (``d``).
_STAGED_TIME = "to_timestamp(s._updated_at)"
STAGED = VersionSql.either("to_timestamp(_updated_at)", "_deleted", "_raw_data")
STAGED_LIVE = VersionSql.live(_STAGED_TIME, "s._raw_data")
STAGED_TOMBSTONE = VersionSql.tombstone(_STAGED_TIME)
INSERTED = VersionSql.live("excluded._updated_at", "excluded._raw_data")
ROW = VersionSql.live("t._updated_at", "t._raw_data")
TOMBSTONE = VersionSql.tombstone("d.deleted_at")
RECORDED_TOMBSTONE = VersionSql.tombstone("excluded.deleted_at")


@dataclass(frozen=True)
class FlushStats:
    """What one flush did. ``inserted + updated + skipped_stale + deleted == records``.

    ``skipped_stale`` counts versions that lost to a newer (or equal) one: in the table, in the
    tombstones, or elsewhere in the same batch. ``deleted`` counts tombstones applied: the row (if
    any) is gone and the deletion is remembered.
    """

    records: int
    inserted: int
    updated: int
    skipped_stale: int
    deleted: int
    duration_ms: int


@dataclass(frozen=True)
class StagedBatch:
    """A batch encoded for COPY, with what the writer learned while buffering it."""

    payload: bytes
    records: int
    live: int
    tombstones: int
    has_duplicate_keys: bool
    guarded_columns: frozenset[str] = frozenset()
    """Columns holding, somewhere in the batch, a value the fast SQL path cannot take."""


class StreamStatements:
    """The SQL of one stream's flush, composed once per write from its layout and actual columns."""

    def __init__(self, schema: str, layout: StreamLayout, columns: list[TypedColumn]) -> None:
        self.layout = layout
        digest = hashlib.sha1(f"{schema}.{layout.table}".encode("utf-8", "surrogatepass")).hexdigest()
        self.stage_name = f"_sync_stage_{digest[:16]}"
        self.lock_key = f"sync_platform:write:{digest}"
        self.target = sql.Identifier(schema, layout.table)
        self.stage = sql.Identifier("pg_temp", self.stage_name)
        self.tombstones = sql.Identifier(schema, TOMBSTONES_TABLE)
        self.table_literal = sql.Literal(layout.table)
        self.keys = [sql.Identifier(k.name) for k in layout.key]
        self.date_times = [c for c in columns if c.kind is ColumnKind.DATE_TIME]
        self.columns = columns
        self._upserts: dict[frozenset[str], sql.Composable] = {}
        self.create_stage = self._create_stage()
        self.copy = self._copy()
        self._copy_text: bytes | None = None
        self._scripts: dict[
            tuple[bool, bool, bool, frozenset[str]], tuple[str, list[tuple[str, ...] | None]]
        ] = {}
        self.dedupe = self._dedupe()
        self.clear_tombstones = self._clear_tombstones()
        self.delete_rows = self._delete_rows()
        self.record_tombstones = self._record_tombstones()

    def copy_statement(self, connection: AsyncConnection) -> bytes:
        """``copy`` as the bytes sent, composed once (~10 µs a flush otherwise)."""
        if self._copy_text is None:
            self._copy_text = self.copy.as_bytes(connection)
        return self._copy_text

    def script(
        self, connection: AsyncConnection, batch: StagedBatch
    ) -> tuple[str, list[tuple[str, ...] | None]]:
        """The statements applying ``batch``, then emptying the stage, and what each one's row means."""
        shape = (batch.has_duplicate_keys, batch.live > 0, batch.tombstones > 0, batch.guarded_columns)
        if shape not in self._scripts:
            parts: list[tuple[sql.Composable, tuple[str, ...] | None]] = [
                (
                    sql.SQL("SELECT pg_advisory_xact_lock(hashtextextended({}, 0))").format(
                        sql.Literal(self.lock_key)
                    ),
                    None,
                )
            ]
            if batch.has_duplicate_keys:
                parts.append((self.dedupe, ("superseded",)))
            if batch.live:
                parts.append((self.upsert(batch.guarded_columns), ("inserted", "updated", "live")))
                parts.append((self.clear_tombstones, None))
            if batch.tombstones:
                parts.append((self.delete_rows, None))
                parts.append((self.record_tombstones, ("deleted", "tombstones")))
            parts.append((sql.SQL("TRUNCATE {}").format(self.stage), None))
            text = sql.SQL("; ").join(statement for statement, _ in parts).as_string(connection)
            self._scripts[shape] = (text, [reader for _, reader in parts])
        return self._scripts[shape]

    def _staged_date_time(self, index: int) -> sql.Identifier:
        return sql.Identifier(f"_dt_{index}")

    def _key_list(self, alias: str) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), k) for k in self.keys)

    def _key_array(self, alias: str) -> sql.Composable:
        return sql.SQL("ARRAY[{}]").format(self._key_list(alias))

    def _same_key(self, left: str, right: str) -> sql.Composable:
        return sql.SQL("({}) = ({})").format(self._key_list(left), self._key_list(right))

    def _create_stage(self) -> sql.Composed:
        columns: list[sql.Composable] = [sql.SQL('{} text COLLATE "C" NOT NULL').format(k) for k in self.keys]
        columns += [
            sql.SQL("_deleted boolean NOT NULL"),
            sql.SQL("_updated_at double precision NOT NULL"),
            sql.SQL("_raw_data jsonb NOT NULL"),
        ]
        columns += [sql.SQL("{} text").format(self._staged_date_time(i)) for i in range(len(self.date_times))]
        return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) WITH (toast_tuple_target = 8160)").format(
            sql.Identifier(self.stage_name), sql.SQL(", ").join(columns)
        )

    def _copy(self) -> sql.Composed:
        names = [*self.keys, sql.Identifier("_deleted"), sql.Identifier("_updated_at")]
        names += [sql.Identifier("_raw_data")]
        names += [self._staged_date_time(i) for i in range(len(self.date_times))]
        return sql.SQL("COPY {} ({}) FROM STDIN").format(self.stage, sql.SQL(", ").join(names))

    def _dedupe(self) -> sql.Composable:
        """Keep only the winning version of each key in staging; returns how many lost."""
        return sql.SQL(
            "WITH ranked AS (SELECT ctid, row_number() OVER (PARTITION BY {keys} "
            "ORDER BY {newest_first}) AS rank FROM {stage}), "
            "gone AS (DELETE FROM {stage} s USING ranked r WHERE s.ctid = r.ctid AND r.rank > 1 RETURNING 1) "
            "SELECT count(*) FROM gone"
        ).format(
            keys=sql.SQL(", ").join(self.keys),
            newest_first=sql.SQL(sql_newest_first(STAGED)),
            stage=self.stage,
        )

    def _typed_values(self, guarded: frozenset[str]) -> tuple[sql.Composable, list[sql.Composable]]:
        """The FROM clause that unpacks the raw JSON once per row, and one expression per column.

        ``jsonb_to_record`` converts each clean column with its type's input function (the fast
        path); a column in ``guarded`` is unpacked as jsonb and read by the never-failing rule.
        """
        definitions: list[sql.Composable] = []
        expressions: list[sql.Composable] = []
        for column in self.columns:
            if column.kind is ColumnKind.DATE_TIME:
                staged = sql.SQL("s.{}").format(self._staged_date_time(self.date_times.index(column)))
                expressions.append(sql_value(column.kind, sql.SQL("NULL"), staged))
            elif not is_identifier_safe(column.field):  # no record definition can spell this name
                value = sql.SQL("(s._raw_data -> {})").format(sql.Literal(column.field))
                expressions.append(sql_value(column.kind, value, sql.SQL("NULL")))
            else:
                value = sql.SQL("x.{}").format(sql.Identifier(column.field))
                if column.name in guarded:
                    definitions.append(sql.SQL("{} jsonb").format(sql.Identifier(column.field)))
                    expressions.append(sql_value(column.kind, value, sql.SQL("NULL")))
                else:
                    record_type = sql.SQL(FAST_RECORD_TYPES[column.kind])
                    definitions.append(sql.SQL("{} {}").format(sql.Identifier(column.field), record_type))
                    expressions.append(sql_fast_value(column.kind, value))
        source = sql.SQL("{} s").format(self.stage)
        if definitions:
            source = sql.SQL("{} s, jsonb_to_record(s._raw_data) AS x({})").format(
                self.stage, sql.SQL(", ").join(definitions)
            )
        return source, expressions

    def upsert(self, guarded: frozenset[str] = frozenset()) -> sql.Composable:
        """The upsert statement for a batch whose ``guarded`` columns need the guarded path."""
        if guarded not in self._upserts:
            self._upserts[guarded] = self._upsert(guarded)
        return self._upserts[guarded]

    def _upsert(self, guarded: frozenset[str]) -> sql.Composable:
        """Insert or update every live version that beats the row and the tombstone it meets.

        Returns (inserted, updated, live versions staged); ``xmax = 0`` marks a freshly inserted row.
        """
        source, expressions = self._typed_values(guarded)
        names: list[sql.Identifier] = [*self.keys, sql.Identifier(UPDATED_AT), sql.Identifier(SYNCED_AT)]
        names += [sql.Identifier(c.name) for c in self.columns]
        names.append(sql.Identifier(RAW_DATA))
        values: list[sql.Composable] = [sql.SQL("s.{}").format(k) for k in self.keys]
        values += [sql.SQL(_STAGED_TIME), sql.SQL("now()"), *expressions]
        values.append(sql.SQL("s._raw_data"))
        updates = sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(name, name) for name in names[len(self.keys) :]
        )
        return sql.SQL(
            "WITH written AS ("
            "INSERT INTO {target} AS t ({names}) SELECT {values} FROM {source} "
            "WHERE NOT s._deleted AND NOT EXISTS (SELECT 1 FROM {tombstones} d "
            "WHERE d.table_name = {table} AND d.key = {key} AND NOT {live_beats_tombstone}) "
            "ON CONFLICT ({keys}) DO UPDATE SET {updates} WHERE {inserted_beats_row} "
            "RETURNING (t.xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted), "
            "(SELECT count(*) FROM {stage} WHERE NOT _deleted) FROM written"
        ).format(
            target=self.target,
            names=sql.SQL(", ").join(names),
            values=sql.SQL(", ").join(values),
            source=source,
            tombstones=self.tombstones,
            table=self.table_literal,
            key=self._key_array("s"),
            keys=sql.SQL(", ").join(self.keys),
            updates=updates,
            stage=self.stage,
            live_beats_tombstone=sql.SQL(sql_beats(STAGED_LIVE, TOMBSTONE)),
            inserted_beats_row=sql.SQL(sql_beats(INSERTED, ROW)),
        )

    def _clear_tombstones(self) -> sql.Composable:
        """Forget deletions that a newer live version (a re-created object) has just superseded."""
        return sql.SQL(
            "DELETE FROM {tombstones} d USING {stage} s WHERE NOT s._deleted AND d.table_name = {table} "
            "AND d.key = {key} AND {live_beats_tombstone}"
        ).format(
            tombstones=self.tombstones,
            stage=self.stage,
            table=self.table_literal,
            key=self._key_array("s"),
            live_beats_tombstone=sql.SQL(sql_beats(STAGED_LIVE, TOMBSTONE)),
        )

    def _delete_rows(self) -> sql.Composable:
        """Delete rows their tombstone beats (it is not older than them)."""
        return sql.SQL(
            "DELETE FROM {target} t USING {stage} s WHERE s._deleted AND {same} AND {tombstone_beats_row}"
        ).format(
            target=self.target,
            stage=self.stage,
            same=self._same_key("t", "s"),
            tombstone_beats_row=sql.SQL(sql_beats(STAGED_TOMBSTONE, ROW)),
        )

    def _record_tombstones(self) -> sql.Composable:
        """Remember each applied deletion; returns (tombstones applied, tombstones staged)."""
        return sql.SQL(
            "WITH kept AS (INSERT INTO {tombstones} AS d (table_name, key, deleted_at) "
            "SELECT {table}, {key}, {time} FROM {stage} s WHERE s._deleted "
            "AND NOT EXISTS (SELECT 1 FROM {target} t WHERE {same} AND NOT {tombstone_beats_row}) "
            "ON CONFLICT (table_name, key) DO UPDATE SET deleted_at = excluded.deleted_at "
            "WHERE {recorded_beats_tombstone} RETURNING 1) "
            "SELECT (SELECT count(*) FROM kept), (SELECT count(*) FROM {stage} WHERE _deleted)"
        ).format(
            tombstones=self.tombstones,
            table=self.table_literal,
            key=self._key_array("s"),
            stage=self.stage,
            target=self.target,
            same=self._same_key("t", "s"),
            time=sql.SQL(_STAGED_TIME),
            tombstone_beats_row=sql.SQL(sql_beats(STAGED_TOMBSTONE, ROW)),
            recorded_beats_tombstone=sql.SQL(sql_beats(RECORDED_TOMBSTONE, TOMBSTONE)),
        )


@dataclass
class Session:
    """A writer's connection and the staging tables it has created (temp tables live per session)."""

    connection: AsyncConnection
    stages: set[str] = field(default_factory=set)


async def flush(session: Session, statements: StreamStatements, batch: StagedBatch) -> FlushStats:
    """Apply ``batch`` in one transaction: all of it commits, or none of it does.

    Two round trips: COPY into the session's private staging table (a temp table: its own commit
    touches nothing shared and needs no disk flush), then one simple-query script (PostgreSQL runs
    it as one transaction) that applies the batch and empties the stage. Few round trips matter:
    each is a moment the server idles until the event loop gets back to this flush.
    """
    started = time.perf_counter()
    connection = session.connection
    script, readers = statements.script(connection, batch)
    try:
        if statements.stage_name not in session.stages:
            await connection.execute(statements.create_stage)
            session.stages.add(statements.stage_name)
        async with connection.cursor() as cursor:
            async with cursor.copy(statements.copy_statement(connection)) as copy:
                await copy.write(batch.payload)
            counts = await _run_script(cursor, script, readers)
    except BaseException:
        await _empty_stage(connection, statements)
        raise
    inserted, updated = counts.get("inserted", 0), counts.get("updated", 0)
    deleted = counts.get("deleted", 0)
    skipped = counts.get("superseded", 0) + counts.get("live", 0) - inserted - updated
    skipped += counts.get("tombstones", 0) - deleted
    return FlushStats(
        records=batch.records,
        inserted=inserted,
        updated=updated,
        skipped_stale=skipped,
        deleted=deleted,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


async def _run_script(
    cursor: psycopg.AsyncCursor[tuple[object, ...]], script: str, readers: list[tuple[str, ...] | None]
) -> dict[str, int]:
    """Run a flush script and collect the counts its statements return, by name."""
    counts: dict[str, int] = {}
    await cursor.execute(script)
    for reader in readers:
        if reader is not None:
            for name, value in zip(reader, await cursor.fetchone() or (), strict=True):
                counts[name] = int(value)  # type: ignore[call-overload]  # counts are ints
        cursor.nextset()
    return counts


async def _empty_stage(connection: AsyncConnection, statements: StreamStatements) -> None:
    """After a failed script the stage still holds the batch; empty it if the session survived."""
    if connection.broken or connection.closed:
        return  # the session and its temp tables are gone with it
    with contextlib.suppress(psycopg.Error):  # the connection died meanwhile: nothing left to empty
        await connection.execute(sql.SQL("TRUNCATE {}").format(statements.stage))
