"""``sync-platform sync``: run a sync with a live per-stream progress display.

With a pipeline id it runs that stored pipeline through the pipeline runner (the code Dagster runs:
setup when needed, its lanes, checkpoints saved as they commit, status and failures recorded).
Without one it is the ad-hoc form, the engine alone with no store: ``--source`` / ``--destination``
with inline configs and an optional ``--state-file``.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from sync_platform.cli.app import EXIT_FAILED, cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.options import load_document, split_names
from sync_platform.cli.output import json_option, print_json
from sync_platform.cli.pipeline_runs import run_stored_pipeline
from sync_platform.cli.progress import ProgressView
from sync_platform.cli.sync_batch_command import force_option, lane_option
from sync_platform.engine import Engine, blocking
from sync_platform.pipelines.runner import Lane, RunOptions
from sync_platform.protocol import (
    ControlMessage,
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
    state: SyncState | dict[str, Any] | None,
    run_id: str | None,
    time_limit: float | None,
    state_limit: int | None,
    raw: bool,
    title: str,
    on_checkpoint: Callable[[SyncState], None] | None = None,
    on_control: Callable[[ControlMessage], None] | None = None,
    quiet: bool = False,
) -> EofPayload:
    """Call ``engine.sync`` until ``has_more`` is false, showing progress; returns the last eof.

    ``on_checkpoint(ending_state)`` is called after every chunk (a failed one included: its state
    is what was committed before the failure) so the caller can persist it; ``on_control`` gets
    each connector ``control`` message. ``quiet`` shows nothing (the caller prints the eof).
    """
    looping = time_limit is not None or state_limit is not None
    run_id = run_id or (str(uuid.uuid4()) if looping else None)
    eof: EofPayload | None = None
    with ProgressView(title=title, live=False if raw or quiet else None) as view:
        while True:
            eof = None
            messages = blocking.iterate(
                lambda checkpoint=state: engine.sync(  # type: ignore[misc]  # bind this chunk's state
                    pipeline, state=checkpoint, run_id=run_id, time_limit=time_limit, state_limit=state_limit
                )
            )
            try:
                for message in messages:
                    if not quiet:
                        _show(message, view, raw)
                    if isinstance(message, ControlMessage) and on_control is not None:
                        on_control(message)
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
            if on_checkpoint is not None and eof.ending_state is not None:
                on_checkpoint(eof.ending_state)
            if not eof.has_more or eof.status is RunStatus.FAILED:
                break
        if not raw and not quiet:
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


AD_HOC_OPTIONS = ("source_type", "source_config", "destination_type", "destination_config", "state_file")


@cli.command("sync")
@click.argument("pipeline_id", required=False)
@click.option(
    "--source", "source_type", default="fixture", show_default=True, help="Source connector (ad hoc)."
)
@click.option("--source-config", help="Source config (ad hoc): inline JSON, or @file (JSON/YAML).")
@click.option(
    "--destination",
    "destination_type",
    default="null",
    show_default=True,
    help="Destination connector (ad hoc).",
)
@click.option("--destination-config", help="Destination config (ad hoc): inline JSON, or @file (JSON/YAML).")
@click.option("--streams", help="Comma-separated stream names (default: all, or the pipeline's).")
@lane_option
@click.option("--state-limit", type=click.IntRange(min=1), help="Checkpoints per request; loops until done.")
@click.option("--time-limit", type=click.FloatRange(min=0.1), help="Seconds per request; loops until done.")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Ad hoc: resume from this file and save every checkpoint to it.",
)
@click.option(
    "--reset-state", is_flag=True, help="With a pipeline id: backfill its streams again from the start."
)
@click.option("--run-id", help="Continue this run (same id = skip streams it already finished).")
@force_option
@click.option("--raw", is_flag=True, help="Print every engine message as NDJSON on stdout.")
@json_option
@pass_cli
@click.pass_context
def sync_command(
    ctx: click.Context,
    cli_ctx: CliContext,
    pipeline_id: str | None,
    source_type: str,
    source_config: str | None,
    destination_type: str,
    destination_config: str | None,
    streams: str | None,
    lane: str | None,
    state_limit: int | None,
    time_limit: float | None,
    state_file: Path | None,
    reset_state: bool,
    run_id: str | None,
    force: bool,
    raw: bool,
) -> None:
    """Run a sync with live per-stream progress: a stored pipeline by id, or an ad-hoc one.

    A stored pipeline runs through the platform's pipeline runner (the one Dagster runs): its
    backfill until done, then catching up on webhooks and events, checkpoints saved as they
    commit; ``--lane`` picks one lane.

    \b
    Examples:
      sync-platform sync shop                        # the stored pipeline, resuming its checkpoint
      sync-platform sync --source fixture --destination null \\
        --source-config '{"streams": {"customer": 50000, "invoice": 20000}}'
    """
    if pipeline_id is not None:
        given = [
            f"--{name.removesuffix('_type').replace('_', '-')}"
            for name in AD_HOC_OPTIONS
            if ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} cannot be combined with a pipeline id: the pipeline's stored config "
                "and checkpoint are used (change them with `sync-platform pipelines update`)."
            )
        options = RunOptions(
            state_limit=state_limit,
            time_limit=time_limit,
            streams=split_names(streams),
            reset_state=reset_state,
            force=force,
            run_id=run_id,
        )
        outcome = run_stored_pipeline(
            cli_ctx,
            pipeline_id,
            command="sync",
            lanes=[Lane(lane)] if lane else None,
            options=options,
            raw="messages" if raw else None,
            keep_ending_state=cli_ctx.json_output and not raw,  # printed whole below
        )
        if cli_ctx.json_output and not raw and outcome.last_eof is not None:
            print_json(outcome.last_eof.to_wire())
        failed = outcome.failed is not None
        if failed or (outcome.last_eof is not None and outcome.last_eof.status is RunStatus.FAILED):
            sys.exit(EXIT_FAILED)
        return
    if reset_state or lane or force:
        raise click.UsageError("--reset-state, --lane and --force need a pipeline id.")
    if cli_ctx.remote_url:
        raise click.UsageError("With --remote, `sync` runs a stored pipeline: give its id.")
    eof = _sync_ad_hoc(
        cli_ctx,
        source_type=source_type,
        source_config=source_config,
        destination_type=destination_type,
        destination_config=destination_config,
        streams=streams,
        state_limit=state_limit,
        time_limit=time_limit,
        state_file=state_file,
        run_id=run_id,
        raw=raw,
    )
    if cli_ctx.json_output and not raw:
        print_json(eof.to_wire())
    if eof.status is RunStatus.FAILED:
        sys.exit(EXIT_FAILED)


def _sync_ad_hoc(
    cli_ctx: CliContext,
    *,
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
) -> EofPayload:
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

    return run_sync_loop(
        cli_ctx.engine(),
        pipeline,
        state=state,
        run_id=run_id,
        time_limit=time_limit,
        state_limit=state_limit,
        raw=raw,
        title=f"{source_type} → {destination_type}",
        on_checkpoint=save,
        quiet=cli_ctx.json_output,
    )
