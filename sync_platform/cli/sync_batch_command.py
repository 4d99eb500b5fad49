"""``sync-platform sync-batch <id>``: bounded ``sync_batch`` steps, each checkpoint saved before the next.

This is the platform's backfill loop run by hand: every batch stops after ``--state-limit``
checkpoints (or ``--time-limit`` seconds, a soft limit: the destination still flushes), its
``ending_state`` is committed to the pipeline, and the next batch resumes from exactly there. All
batches of one invocation share one ``run_id`` (a continuation: streams finished earlier in the run
are not read again, run progress accumulates). ``--loop 0`` repeats until ``has_more`` is false.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable

import click

from sync_platform.cli.app import EXIT_FAILED, cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.options import split_names
from sync_platform.cli.output import json_option, print_json
from sync_platform.cli.pipeline_runs import PipelineRun
from sync_platform.cli.progress import ProgressView
from sync_platform.engine import DEFAULT_STATE_LIMIT, blocking
from sync_platform.protocol import EofPayload, RunStatus, SyncState


def batch_summary(number: int, eof: EofPayload) -> str:
    """``batch 3: 200 records, 2 checkpoints (run: 600 records) — more to do``."""
    request, run = eof.request_progress.derived, eof.run_progress.derived
    if eof.status is RunStatus.FAILED:
        tail = f"failed: {eof.error or 'see the log'}"
    else:
        tail = "more to do" if eof.has_more else "done"
    return (
        f"batch {number}: {request.total_record_count:,} records, {request.total_state_count:,} checkpoints "
        f"(run: {run.total_record_count:,} records) — checkpoint saved, {tail}"
    )


@cli.command("sync-batch")
@click.argument("pipeline_id")
@click.option(
    "--state-limit",
    type=click.IntRange(min=1),
    default=DEFAULT_STATE_LIMIT,
    show_default=True,
    help="Stop each batch after this many checkpoints.",
)
@click.option("--time-limit", type=click.FloatRange(min=0.1), help="Stop reading after S seconds (soft).")
@click.option(
    "--loop",
    "loops",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="How many batches to run; 0 = until has_more is false.",
)
@click.option("--reset-state", is_flag=True, help="Start the first batch from an empty state.")
@click.option("--run-id", help="Run id shared by every batch (default: a new one).")
@click.option("--streams", help="Comma-separated streams (default: the pipeline's).")
@click.option("--raw", is_flag=True, help="Print each batch's EofPayload as one JSON line on stdout.")
@json_option
@pass_cli
def sync_batch_command(
    cli_ctx: CliContext,
    pipeline_id: str,
    state_limit: int,
    time_limit: float | None,
    loops: int,
    reset_state: bool,
    run_id: str | None,
    streams: str | None,
    raw: bool,
) -> None:
    """Sync a stored pipeline in bounded batches, saving each batch's checkpoint before the next.

    \b
    Examples:
      sync-platform sync-batch shop --state-limit 100 --loop 0
      sync-platform sync-batch shop --raw | jq .has_more
    """
    machine = raw or cli_ctx.json_output
    engine = cli_ctx.engine()
    run = PipelineRun(cli_ctx.store(), engine, pipeline_id, streams=split_names(streams))
    log: Callable[[str], None] = (lambda _: None) if machine else (lambda line: click.echo(line, err=True))
    run.setup_if_needed(log)
    run_id = run_id or str(uuid.uuid4())
    state: SyncState | dict[str, object] | None = None if reset_state else run.starting_state
    number = 0
    with ProgressView(title=f"{pipeline_id} (batches)", live=False if machine else None) as view:
        while True:
            number += 1
            eof = blocking.run(
                engine.sync_batch(
                    run.config, state=state, run_id=run_id, state_limit=state_limit, time_limit=time_limit
                )
            )
            if eof.ending_state is not None:
                run.save(eof.ending_state)
                state = eof.ending_state
            if machine:
                print_json(eof.to_wire(), indent=None)
            else:
                view.update(eof.run_progress)
                view.log(batch_summary(number, eof))
            if eof.status is RunStatus.FAILED or not eof.has_more or (loops and number >= loops):
                break
        if not machine:
            view.finish(eof)
    if eof.status is RunStatus.FAILED:
        sys.exit(EXIT_FAILED)
