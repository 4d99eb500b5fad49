"""What the demo prints when it is done: its results (stdout) and where to look next.

Progress goes to stderr while the demo runs; everything here is the result, printed to stdout, so
``make demo > out.txt`` keeps it. Figures come from the runs' own Dagster events (the
materializations and the per-batch observations), the same ones the Dagster UI shows.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.table import Table

from sync_platform.cli.output import plural

if TYPE_CHECKING:
    import dagster as dg

    from sync_platform.cli.demo_flow import DemoOutcome

DAGSTER_UI = "http://127.0.0.1:3000"
CONSOLE_UI = "http://127.0.0.1:8080"


@dataclass
class StreamLine:
    stream: str
    rows: int
    records: int
    seconds: float
    objects_per_second: float
    table: str = ""


@dataclass
class BatchLine:
    number: int
    streams: int
    records: int
    checkpoints: int


def _value(metadata: Any, key: str, default: Any = 0) -> Any:
    return metadata[key].value if key in metadata else default


def stream_lines(result: dg.ExecuteInProcessResult) -> list[StreamLine]:
    lines = []
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        lines.append(
            StreamLine(
                stream=event.asset_key.path[-1],
                rows=int(_value(metadata, "dagster/row_count")),
                records=int(_value(metadata, "sync/records_read")),
                seconds=float(_value(metadata, "sync/duration_seconds", 0.0)),
                objects_per_second=float(_value(metadata, "sync/objects_per_second", 0.0)),
                table=str(_value(metadata, "dagster/table_name", "")),
            )
        )
    return sorted(lines, key=lambda line: (-line.rows, line.stream))


def batch_lines(result: dg.ExecuteInProcessResult) -> list[BatchLine]:
    """One line per committed batch, from the ``AssetObservation`` each batch logged per stream."""
    batches: dict[int, BatchLine] = defaultdict(lambda: BatchLine(0, 0, 0, 0))
    for event in result.get_asset_observation_events():
        metadata = event.asset_observation_data.asset_observation.metadata
        number = int(_value(metadata, "sync/batch"))
        line = batches[number]
        line.number = number
        line.streams += 1
        line.records += int(_value(metadata, "sync/records"))
        line.checkpoints += int(_value(metadata, "sync/checkpoints"))
    return [batches[number] for number in sorted(batches)]


def outcome_tables(outcome: DemoOutcome) -> list[Table]:
    streams = Table(
        title=f"Streams of {outcome.pipeline_id} in {outcome.destination} (run {outcome.backfill_run[:8]})"
    )
    for column, justify in [("stream", "left"), ("rows", "right"), ("records read", "right"),
                            ("seconds", "right"), ("objects/s", "right")]:  # fmt: skip
        streams.add_column(column, justify=justify)  # type: ignore[arg-type]  # rich's Literal
    shown = [line for line in outcome.streams if line.rows or line.records]
    for line in shown:
        streams.add_row(line.stream, f"{line.rows:,}", f"{line.records:,}", f"{line.seconds:.2f}",
                        f"{line.objects_per_second:,.0f}")  # fmt: skip
    empty = len(outcome.streams) - len(shown)
    streams.caption = f"+ {plural(empty, 'stream')} with no objects in this account" if empty else None
    batches = Table(title="Checkpoints committed per batch")
    for column in ("batch", "streams", "records", "checkpoints"):
        batches.add_column(column, justify="right")
    for batch in outcome.batches:
        batches.add_row(
            str(batch.number), f"{batch.streams:,}", f"{batch.records:,}", f"{batch.checkpoints:,}"
        )
    changes = Table(title=f"Webhook changes, as {outcome.destination} holds them now")
    for column in ("stream", "id", "value"):
        changes.add_column(column)
    for stream, object_id, value in outcome.changes:
        changes.add_row(stream, object_id, value)
    return [streams, batches, changes]


def where_to_look(outcome: DemoOutcome, *, connect: str | None, sheets: bool) -> list[str]:
    """The closing block: what ran, and where to see it (no secret: the URL has no password)."""
    runs = plural(len(outcome.live_runs), "live run")
    lines = [
        f"Done in {outcome.seconds:.0f} s: backfill run {outcome.backfill_run}, {runs}.",
        "",
        "Where to look:",
        f"  Dagster UI        run `make dev`, then open {DAGSTER_UI} (the runs, the asset graph, each",
        "                    batch's checkpoint under an asset's Events tab)",
        f"  pipeline console  {CONSOLE_UI}/console/pipelines/{outcome.pipeline_id}",
        "                    (sign in with the admin token `make dev` prints)",
    ]
    tables = [line.table for line in outcome.streams if line.rows and line.table]
    if sheets:
        lines += [
            f"  spreadsheet       {outcome.where}, one tab per stream "
            f"({plural(len(tables), 'tab')} with rows); the local Sheets API kept it in memory, so it",
            "                    is gone now that the demo has ended",
        ]
    else:
        lines += [
            f"  tables            {plural(len(tables), 'table')} with rows in {outcome.where},",
            f"                    e.g. {', '.join(tables[:2])}",
        ]
        if connect:
            lines += [
                "  psql              while `make dev` runs (it starts the same PostgreSQL):",
                f"    {connect}",
            ]
    return lines
