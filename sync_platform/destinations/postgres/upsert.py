"""One flush: COPY a batch into staging, then apply it with newer-wins upserts and safe deletes.

Every version of an object is ordered by ``(_updated_at, deleted, _raw_data)``: the later source
time wins; at equal times a tombstone beats a live version (so "deleted" is never undone by a
same-second update); between two live versions of equal time the one whose raw JSON sorts higher
in PostgreSQL's jsonb order wins, which is arbitrary but the same whatever order the versions
arrive in. An identical replay is not newer, so it is skipped and writes nothing.

Deletes are hard (the row leaves its table) but remembered in ``_sync_tombstones``: a live version
is written only if it is newer than the object's tombstone, so an out-of-order older update or a
reconcile re-read cannot resurrect a deleted object, while a genuinely newer version (a re-created
object) wins and clears the tombstone (reference bug #19).

All statements of a flush run in one transaction, under a per-table advisory lock so concurrent
writers (webhook and reconcile runs) apply their batches one after the other; READ COMMITTED then
sees the other writer's committed rows and tombstones.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import psycopg
from psycopg import sql

from sync_platform.destinations.postgres.layout import StreamLayout, TypedColumn
from sync_platform.destinations.postgres.naming import (
    RAW_DATA,
    SYNCED_AT,
    TOMBSTONES_TABLE,
    UPDATED_AT,
    is_identifier_safe,
)
from sync_platform.destinations.postgres.type_rules import ColumnKind, sql_value

Connection = psycopg.Connection[tuple[object, ...]]


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

    payload: str
    records: int
    live: int
    tombstones: int
    has_duplicate_keys: bool


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
        self.create_stage = self._create_stage()
        self.copy = self._copy()
        self.dedupe = self._dedupe()
        self.upsert = self._upsert()
        self.clear_tombstones = self._clear_tombstones()
        self.delete_rows = self._delete_rows()
        self.record_tombstones = self._record_tombstones()

    def _staged_date_time(self, index: int) -> sql.Identifier:
        return sql.Identifier(f"_dt_{index}")

    def _key_list(self, alias: str) -> sql.Composable:
        return sql.SQL(", ").join(sql.SQL("{}.{}").format(sql.Identifier(alias), k) for k in self.keys)

    def _key_array(self, alias: str) -> sql.Composable:
        return sql.SQL("ARRAY[{}]").format(self._key_list(alias))

    def _same_key(self, left: str, right: str) -> sql.Composable:
        return sql.SQL("({}) = ({})").format(self._key_list(left), self._key_list(right))

    def _create_stage(self) -> sql.Composable:
        columns = [sql.SQL("{} text NOT NULL").format(k) for k in self.keys]
        columns += [
            sql.SQL("_deleted boolean NOT NULL"),
            sql.SQL("_updated_at double precision NOT NULL"),
            sql.SQL("_raw_data jsonb NOT NULL"),
        ]
        columns += [sql.SQL("{} text").format(self._staged_date_time(i)) for i in range(len(self.date_times))]
        return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} ({}) ON COMMIT DELETE ROWS").format(
            sql.Identifier(self.stage_name), sql.SQL(", ").join(columns)
        )

    def _copy(self) -> sql.Composable:
        names = [*self.keys, sql.Identifier("_deleted"), sql.Identifier("_updated_at")]
        names += [sql.Identifier("_raw_data")]
        names += [self._staged_date_time(i) for i in range(len(self.date_times))]
        return sql.SQL("COPY {} ({}) FROM STDIN").format(self.stage, sql.SQL(", ").join(names))

    def _dedupe(self) -> sql.Composable:
        """Keep only the winning version of each key in staging; returns how many lost."""
        return sql.SQL(
            "WITH ranked AS (SELECT ctid, row_number() OVER (PARTITION BY {keys} "
            "ORDER BY _updated_at DESC, _deleted DESC, _raw_data DESC) AS rank FROM {stage}), "
            "gone AS (DELETE FROM {stage} s USING ranked r WHERE s.ctid = r.ctid AND r.rank > 1 RETURNING 1) "
            "SELECT count(*) FROM gone"
        ).format(keys=sql.SQL(", ").join(self.keys), stage=self.stage)

    def _typed_values(self) -> tuple[sql.Composable, list[sql.Composable]]:
        """The FROM clause that unpacks the raw JSON once per row, and one expression per column."""
        unpacked = [
            c for c in self.columns if c.kind is not ColumnKind.DATE_TIME and is_identifier_safe(c.field)
        ]
        unpacked_fields = {c.field for c in unpacked}
        expressions: list[sql.Composable] = []
        for column in self.columns:
            if column.field in unpacked_fields:
                value: sql.Composable = sql.SQL("x.{}").format(sql.Identifier(column.field))
            else:  # a field name no record definition can spell: read it directly
                value = sql.SQL("(s._raw_data -> {})").format(sql.Literal(column.field))
            staged: sql.Composable = sql.SQL("NULL")
            if column.kind is ColumnKind.DATE_TIME:
                staged = sql.SQL("s.{}").format(self._staged_date_time(self.date_times.index(column)))
            expressions.append(sql_value(column.kind, value, staged))
        source = sql.SQL("{} s").format(self.stage)
        if unpacked_fields:
            definition = sql.SQL(", ").join(
                sql.SQL("{} jsonb").format(sql.Identifier(field)) for field in sorted(unpacked_fields)
            )
            source = sql.SQL("{} s, jsonb_to_record(s._raw_data) AS x({})").format(self.stage, definition)
        return source, expressions

    def _upsert(self) -> sql.Composable:
        """Insert or update every live version that beats the row and the tombstone it meets.

        Returns (inserted, updated, live versions staged); ``xmax = 0`` marks a freshly inserted row.
        """
        source, expressions = self._typed_values()
        names = [*self.keys, sql.Identifier(UPDATED_AT), sql.Identifier(SYNCED_AT)]
        names += [sql.Identifier(c.name) for c in self.columns]
        names.append(sql.Identifier(RAW_DATA))
        values = [sql.SQL("s.{}").format(k) for k in self.keys]
        values += [sql.SQL("to_timestamp(s._updated_at)"), sql.SQL("now()"), *expressions]
        values.append(sql.SQL("s._raw_data"))
        updates = sql.SQL(", ").join(
            sql.SQL("{} = excluded.{}").format(name, name) for name in names[len(self.keys) :]
        )
        return sql.SQL(
            "WITH written AS ("
            "INSERT INTO {target} AS t ({names}) SELECT {values} FROM {source} "
            "WHERE NOT s._deleted AND NOT EXISTS (SELECT 1 FROM {tombstones} d "
            "WHERE d.table_name = {table} AND d.key = {key} AND d.deleted_at >= to_timestamp(s._updated_at)) "
            "ON CONFLICT ({keys}) DO UPDATE SET {updates} "
            "WHERE (excluded._updated_at, excluded._raw_data) > (t._updated_at, t._raw_data) "
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
        )

    def _clear_tombstones(self) -> sql.Composable:
        """Forget deletions that a newer live version (a re-created object) has just superseded."""
        return sql.SQL(
            "DELETE FROM {tombstones} d USING {stage} s WHERE NOT s._deleted AND d.table_name = {table} "
            "AND d.key = {key} AND d.deleted_at < to_timestamp(s._updated_at)"
        ).format(
            tombstones=self.tombstones, stage=self.stage, table=self.table_literal, key=self._key_array("s")
        )

    def _delete_rows(self) -> sql.Composable:
        """Delete rows whose tombstone is not older than them."""
        return sql.SQL(
            "DELETE FROM {target} t USING {stage} s WHERE s._deleted AND {same} "
            "AND t._updated_at <= to_timestamp(s._updated_at)"
        ).format(target=self.target, stage=self.stage, same=self._same_key("t", "s"))

    def _record_tombstones(self) -> sql.Composable:
        """Remember each applied deletion; returns (tombstones applied, tombstones staged)."""
        return sql.SQL(
            "WITH kept AS (INSERT INTO {tombstones} AS d (table_name, key, deleted_at) "
            "SELECT {table}, {key}, to_timestamp(s._updated_at) FROM {stage} s WHERE s._deleted "
            "AND NOT EXISTS (SELECT 1 FROM {target} t "
            "WHERE {same} AND t._updated_at > to_timestamp(s._updated_at)) "
            "ON CONFLICT (table_name, key) DO UPDATE SET deleted_at = excluded.deleted_at "
            "WHERE excluded.deleted_at > d.deleted_at RETURNING 1) "
            "SELECT (SELECT count(*) FROM kept), (SELECT count(*) FROM {stage} WHERE _deleted)"
        ).format(
            tombstones=self.tombstones,
            table=self.table_literal,
            key=self._key_array("s"),
            stage=self.stage,
            target=self.target,
            same=self._same_key("t", "s"),
        )


def flush(connection: Connection, statements: StreamStatements, batch: StagedBatch) -> FlushStats:
    """Apply ``batch`` in one transaction: all of it commits, or none of it does."""
    started = time.perf_counter()
    inserted = updated = deleted = superseded = lost_live = lost_tombstones = 0
    with connection.transaction(), connection.cursor() as cursor:
        cursor.execute(statements.create_stage)
        with cursor.copy(statements.copy) as copy:
            copy.write(batch.payload)
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (statements.lock_key,))
        if batch.has_duplicate_keys:
            superseded = _count(cursor.execute(statements.dedupe).fetchone())
        if batch.live:
            row = cursor.execute(statements.upsert).fetchone()
            assert row is not None  # an aggregate always returns one row
            inserted, updated = int(row[0]), int(row[1])  # type: ignore[call-overload]  # counts
            lost_live = int(row[2]) - inserted - updated  # type: ignore[call-overload]  # a count
            cursor.execute(statements.clear_tombstones)
        if batch.tombstones:
            cursor.execute(statements.delete_rows)
            row = cursor.execute(statements.record_tombstones).fetchone()
            assert row is not None
            deleted = int(row[0])  # type: ignore[call-overload]  # a count
            lost_tombstones = int(row[1]) - deleted  # type: ignore[call-overload]  # a count
    return FlushStats(
        records=batch.records,
        inserted=inserted,
        updated=updated,
        skipped_stale=superseded + lost_live + lost_tombstones,
        deleted=deleted,
        duration_ms=round((time.perf_counter() - started) * 1000),
    )


def _count(row: tuple[object, ...] | None) -> int:
    return int(row[0]) if row is not None else 0  # type: ignore[call-overload]  # count(*) is an int
