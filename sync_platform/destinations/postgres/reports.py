"""The log lines and error texts a ``write()`` emits, in one place so their shapes stay documented.

docs/destinations/postgres.md documents these shapes (the per-flush ``data`` especially: the
engine and Dagster aggregate it), so change them together.
"""

from __future__ import annotations

from typing import Any

from sync_platform.destinations.postgres.layout import TypedColumn
from sync_platform.destinations.postgres.type_rules import json_type
from sync_platform.destinations.postgres.upsert import FlushStats
from sync_platform.engine.destination_kit import FlushReport
from sync_platform.protocol import LogLevel, LogMessage, log


def flush_stats(stream: str, table: str, stats: FlushStats) -> LogMessage:
    """Debug line per committed flush: ``inserted + updated + skipped_stale + deleted == records``."""
    report = FlushReport(
        stream=stream,
        where=table,
        records=stats.records,
        inserted=stats.inserted,
        updated=stats.updated,
        skipped_stale=stats.skipped_stale,
        deleted=stats.deleted,
        duration_ms=stats.duration_ms,
    )
    return report.to_log(f"postgres: flushed {stats.records} records of {stream!r}")


def totals(schema: str, streams: dict[str, dict[str, Any]]) -> LogMessage:
    """Info line at the end of a write: the flush counts summed per stream."""
    written = sum(counts["records"] for counts in streams.values())
    return log(LogLevel.INFO, f"postgres: wrote {written} records to schema {schema!r}", {"streams": streams})


def flush_failed(stream: str, table: str, records: int, cause: str) -> str:
    """The ``stream_status: error`` text of a failed flush; ``cause`` is already secret-free."""
    return (
        f"Writing {records} record(s) of stream {stream!r} to {table} failed: {cause}. Nothing of "
        "that batch was committed and the stream's checkpoint did not advance; its later records are "
        "not written in this run. Fix the cause and run the sync again: it resumes from the last "
        "committed checkpoint."
    )


def not_written(stream: str, dropped: int) -> LogMessage:
    return log(
        LogLevel.WARN,
        f"postgres: {dropped} records of stream {stream!r} were not written because the stream "
        "failed in this run; the next run resumes from its last committed checkpoint.",
        {"stream": stream, "not_written": dropped},
    )


def mismatch(stream: str, column: TypedColumn, value: object, key: tuple[str, ...]) -> LogMessage:
    """Warning for the first value of a run that a typed column cannot hold."""
    got = json_type(value)
    message = (
        f"postgres: stream {stream!r}, record {list(key)}: field {column.field!r} is a {got} but column "
        f"{column.name!r} ({column.pg_type}) keeps only {column.kind.accepted}, so the column is NULL "
        "for this record; _raw_data keeps the value. Further mismatches in this column are not "
        "reported in this run."
    )
    data = {"stream": stream, "column": column.name, "expected": column.kind.value, "got": got}
    return log(LogLevel.WARN, message, data)


def repaired(stream: str, key: tuple[str, ...]) -> LogMessage:
    message = (
        f"postgres: stream {stream!r}, record {list(key)} held characters PostgreSQL cannot store "
        "(NUL characters or lone surrogates), replaced by U+FFFD. Reported once per stream and run."
    )
    return log(LogLevel.WARN, message, {"stream": stream})


def table_changed(stream: str, where: str, created: bool, added: list[str]) -> LogMessage:
    what = "created the table" if created else f"added columns {', '.join(added)}"
    return log(LogLevel.INFO, f"postgres: {what} {where} for stream {stream!r}", {"stream": stream})


def table_note(stream: str, where: str, note: str) -> LogMessage:
    return log(LogLevel.WARN, f"postgres: {where}: {note}", {"stream": stream, "note": note})
