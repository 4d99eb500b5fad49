"""Human views of pipelines (rich tables) and their JSON forms, always from the masked model."""

from __future__ import annotations

import json
from typing import Any

from rich.table import Table
from rich.text import Text

from sync_platform.cli.connector_check import CheckResult
from sync_platform.cli.output import plural
from sync_platform.pipelines import DesiredStatus, Pipeline
from sync_platform.pipelines.account_status import account_status
from sync_platform.redaction import redact, redact_value

_DISPLAY_STYLE = {
    "ready": "green",
    "backfilling": "cyan",
    "setting_up": "cyan",
    "resuming": "cyan",
    "pausing": "yellow",
    "paused": "yellow",
    "tearing_down": "magenta",
    "teardown_failed": "bold red",
    "deleted": "dim",
    "error": "bold red",
}


def pipeline_json(pipeline: Pipeline, *, pending_events: int | None = None) -> dict[str, Any]:
    """``Pipeline.masked()`` (secrets as ``***`` or ``{"env": ...}``), plus the inbox backlog if known."""
    data = pipeline.masked()
    if pending_events is not None:
        data["pending_webhook_events"] = pending_events
    if (accounts := account_status(pipeline)) is not None:
        data["account_status"] = accounts
    return data


def _connector(masked: dict[str, Any]) -> str:
    connector_type = masked["type"]
    config = masked.get(connector_type) or {}
    return (
        f"{connector_type} {json.dumps(redact_value(config), sort_keys=True)}" if config else connector_type
    )


def _streams(pipeline: Pipeline) -> str:
    if pipeline.streams is None:
        return "all"
    return ", ".join(
        s.name if s.backfill_limit is None else f"{s.name} (limit {s.backfill_limit:,})"
        for s in pipeline.streams
    )


def _status(pipeline: Pipeline) -> str:
    display = pipeline.display_status.value
    style = _DISPLAY_STYLE.get(display)
    return f"[{style}]{display}[/]" if style else display


SHOWN_STREAMS = 6
SHOWN_ACCOUNTS = 5
SHOWN_CURSOR_CHARS = 80


def created_line(pipeline: Pipeline) -> str:
    """What ``pipelines create`` says happens next, for the status the pipeline was created in."""
    if pipeline.desired_status is DesiredStatus.PAUSED:
        return (
            f"Created pipeline {pipeline.id}, paused: nothing is set up or synced until "
            f"`sync-platform pipelines resume {pipeline.id}`."
        )
    return f"Created pipeline {pipeline.id}; the platform sets it up and backfills it."


def _checkpoint(state: dict[str, Any] | None) -> str:
    """A checkpoint in one line: the streams a backfill covered, or the live lane's cursor."""
    if not state:
        return "none"
    source = state.get("source") or {}
    streams = sorted(source.get("streams") or {})
    derived = ((state.get("sync_run") or {}).get("progress") or {}).get("derived") or {}
    records = derived.get("total_record_count")
    counted = (
        f"; last run {plural(records, 'record')} ({derived.get('status', '?')})"
        if isinstance(records, int)
        else ""
    )
    if streams:
        shown = ", ".join(streams[:SHOWN_STREAMS])
        more = f" and {len(streams) - SHOWN_STREAMS} more" if len(streams) > SHOWN_STREAMS else ""
        return f"{plural(len(streams), 'stream')}: {shown}{more}{counted}"
    cursor = source.get("global")
    if cursor:
        text = json.dumps(cursor, default=str)
        short = text if len(text) <= SHOWN_CURSOR_CHARS else text[: SHOWN_CURSOR_CHARS - 1] + "…"
        return f"cursor {short}{counted}"
    return f"saved, no stream or cursor yet{counted}"


def accounts_lines(status: dict[str, Any]) -> str:
    """How many accounts are healthy, then the first few that are not, with their causes (a
    platform of 10,000 accounts gets a summary, not 10,000 lines: ``--json`` has them all)."""
    counts = ", ".join(f"{n:,} {name}" for name, n in status["counts"].items())
    lines = [f"{status['healthy']:,} of {status['total']:,} healthy ({counts})"]
    unhealthy = [(a, e) for a, e in status["accounts"].items() if e["status"] in ("error", "deauthorized")]
    for account, entry in unhealthy[:SHOWN_ACCOUNTS]:
        cause = f" [{entry.get('failure_kind')}] {entry.get('cause')}" if entry["status"] == "error" else ""
        cause += " (rows purged)" if entry.get("purged") else ""
        lines.append(redact(f"{account}: {entry['status']}{cause}"))
    if len(unhealthy) > SHOWN_ACCOUNTS:
        lines.append(f"and {len(unhealthy) - SHOWN_ACCOUNTS:,} more (see --json)")
    return "\n".join(lines)


def pipeline_table(pipeline: Pipeline, *, pending_events: int | None = None) -> Table:
    """Every field of one pipeline, one row each, configs masked."""
    masked = pipeline.masked()
    table = Table(title=f"Pipeline {pipeline.id}", show_header=False, expand=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row(
        "status",
        f"{_status(pipeline)} (desired {pipeline.desired_status.value}, platform {pipeline.status.value})",
    )
    if pipeline.error is not None:
        # Text, not markup: "[auth]" and Stripe's messages are shown as they are, brackets included
        table.add_row(
            "error", Text(redact(f"[{pipeline.error.failure_type.value}] {pipeline.error.message}"))
        )
    table.add_row("source", _connector(masked["source"]))
    table.add_row("destination", _connector(masked["destination"]))
    table.add_row("streams", _streams(pipeline))
    table.add_row("backfill checkpoint", _checkpoint(pipeline.sync_state))
    table.add_row("live checkpoint", _checkpoint(pipeline.live_state))
    if (accounts := account_status(pipeline)) is not None:
        table.add_row("connected accounts", Text(accounts_lines(accounts)))
    if pending_events is not None:
        table.add_row("webhook inbox", f"{pending_events:,} pending")
    table.add_row("version", str(pipeline.version))
    table.add_row("created", f"{pipeline.created_at:%Y-%m-%d %H:%M:%S %Z}")
    table.add_row("updated", f"{pipeline.updated_at:%Y-%m-%d %H:%M:%S %Z}")
    return table


def pipelines_table(pipelines: list[Pipeline]) -> Table:
    """One row per pipeline: id, status, connectors, streams, last update."""
    table = Table(title="Pipelines", expand=False)
    for column in ("id", "status", "source", "destination", "streams", "updated"):
        table.add_column(column, overflow="fold")
    for pipeline in pipelines:
        table.add_row(
            pipeline.id,
            _status(pipeline),
            pipeline.source.type,
            pipeline.destination.type,
            _streams(pipeline),
            f"{pipeline.updated_at:%Y-%m-%d %H:%M}",
        )
    return table


def check_line(result: CheckResult) -> str:
    """``✓ source/stripe: connected`` or ``✗ destination/postgres: <message>``."""
    tag = f"{result.side}/{result.connector}"
    if result.succeeded:
        return f"[green]✓[/] {tag}: connected"
    return f"[red]✗[/] {tag}: {redact(result.message or 'failed')}"


def lifecycle_line(pipeline: Pipeline, what: str) -> str:
    """One line after a lifecycle command: what was asked and what users will see."""
    return (
        f"Pipeline {pipeline.id} {what}: desired_status {pipeline.desired_status.value}, "
        f"shown as {_status(pipeline)}."
    )
