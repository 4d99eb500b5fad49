"""``sync-platform sync``: run one sync through the engine with a live per-stream progress display."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import click

from sync_platform.cli.app import EXIT_FAILED, cli
from sync_platform.cli.options import load_document, split_names
from sync_platform.cli.progress import ProgressView
from sync_platform.engine import Engine, blocking
from sync_platform.protocol import (
    EofMessage,
    EofPayload,
    LogMessage,
    PipelineConfig,
    ProgressMessage,
    RunStatus,
    StreamConfig,
    SyncState,
    dump_message,
)


def build_pipeline(
    source: str, source_config: Any, destination: str, destination_config: Any, streams: list[str] | None
) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "source": {"type": source, source: source_config or {}},
            "destination": {"type": destination, destination: destination_config or {}},
            "streams": [StreamConfig(name=name) for name in streams] if streams else None,
        }
    )


def run_sync_loop(
    engine: Engine,
    pipeline: PipelineConfig,
    *,
    state: SyncState | None,
    run_id: str | None,
    time_limit: float | None,
    state_limit: int | None,
    raw: bool,
    title: str,
    on_checkpoint: Any = None,
) -> EofPayload:
    """Call ``engine.sync`` until ``has_more`` is false, showing progress; returns the last eof.

    ``on_checkpoint(ending_state)`` is called after every chunk so the caller can persist it.
    """
    looping = time_limit is not None or state_limit is not None
    run_id = run_id or (str(uuid.uuid4()) if looping else None)
    eof: EofPayload | None = None
    with ProgressView(title=title, live=False if raw else None) as view:
        while True:
            eof = None
            messages = blocking.iterate(
                lambda checkpoint=state: engine.sync(  # type: ignore[misc]  # bind this chunk's state
                    pipeline, state=checkpoint, run_id=run_id, time_limit=time_limit, state_limit=state_limit
                )
            )
            try:
                for message in messages:
                    _show(message, view, raw)
                    if isinstance(message, EofMessage):
                        eof = message.eof
            except Exception:
                # A failing connector still produced an eof with the checkpoint and the error;
                # report that like any failed run instead of as a crash.
                if eof is None or eof.status is not RunStatus.FAILED:
                    raise
            if eof is None:
                raise click.ClickException("the sync ended without an eof message")
            state = eof.ending_state
            if on_checkpoint is not None and state is not None:
                on_checkpoint(state)
            if not eof.has_more or eof.status is RunStatus.FAILED:
                break
        if not raw:
            view.finish(eof)
    return eof


def _show(message: Any, view: ProgressView, raw: bool) -> None:
    if raw:
        sys.stdout.write(dump_message(message))
        sys.stdout.flush()
    elif isinstance(message, ProgressMessage):
        view.update(message.progress)
    elif isinstance(message, LogMessage) and message.log.level in ("warn", "error"):
        view.log(f"[{message.log.level}] {message.emitted_by}: {message.log.message}")


@cli.command("sync")
@click.option("--source", "source_type", default="fixture", show_default=True, help="Source connector.")
@click.option("--source-config", help="Source config: inline JSON, or @file (JSON/YAML).")
@click.option(
    "--destination", "destination_type", default="null", show_default=True, help="Destination connector."
)
@click.option("--destination-config", help="Destination config: inline JSON, or @file (JSON/YAML).")
@click.option("--streams", help="Comma-separated stream names (default: all).")
@click.option("--state-limit", type=click.IntRange(min=1), help="Checkpoints per request; loops until done.")
@click.option("--time-limit", type=click.FloatRange(min=0.1), help="Seconds per request; loops until done.")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Resume from this file and save every checkpoint to it.",
)
@click.option("--run-id", help="Continue this run (same id = skip streams it already finished).")
@click.option("--raw", is_flag=True, help="Print every engine message as NDJSON on stdout.")
def sync_command(
    source_type: str,
    source_config: str | None,
    destination_type: str,
    destination_config: str | None,
    streams: str | None,
    state_limit: int | None,
    time_limit: float | None,
    state_file: Path | None,
    run_id: str | None,
    raw: bool,
) -> None:
    """Run a sync from a source to a destination, with live per-stream progress.

    \b
    Example (offline, no setup):
      sync-platform sync --source fixture --destination null \\
        --source-config '{"streams": {"customer": 50000, "invoice": 20000}}'
    """
    pipeline = build_pipeline(
        source_type,
        load_document(source_config, option="--source-config"),
        destination_type,
        load_document(destination_config, option="--destination-config"),
        split_names(streams),
    )
    state = None
    if state_file is not None and state_file.exists():
        state = SyncState.model_validate_json(state_file.read_text())

    def save(checkpoint: SyncState) -> None:
        if state_file is not None:
            state_file.write_text(json.dumps(checkpoint.to_wire(), indent=2) + "\n")

    eof = run_sync_loop(
        Engine(),
        pipeline,
        state=state,
        run_id=run_id,
        time_limit=time_limit,
        state_limit=state_limit,
        raw=raw,
        title=f"{source_type} → {destination_type}",
        on_checkpoint=save,
    )
    if eof.status is RunStatus.FAILED:
        sys.exit(EXIT_FAILED)
