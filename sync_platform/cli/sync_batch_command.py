"""``sync-platform sync-batch <id>``: a stored pipeline's lanes in bounded batches, as the platform runs them.

Each batch stops after ``--state-limit`` checkpoints (or ``--time-limit`` seconds, a soft limit: the
destination still flushes); committed checkpoints are saved as pages commit and at the end of every
batch, so a killed command resumes where its destination stopped. ``--loop 0`` repeats until the
lane has nothing left. Without ``--lane`` the pipeline decides: its backfill until it is done, then
catching up (the webhook inbox and the events API). The runner behind this command is the one
Dagster runs, so status, failures and checkpoints end up exactly as they would there.
"""

from __future__ import annotations

import sys

import click

from sync_platform.cli.app import EXIT_FAILED, cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.options import split_names
from sync_platform.cli.output import json_option
from sync_platform.cli.pipeline_runs import run_stored_pipeline
from sync_platform.engine import DEFAULT_STATE_LIMIT
from sync_platform.pipelines.runner import Lane, RunOptions
from sync_platform.protocol import RunStatus

lane_option = click.option(
    "--lane",
    "lane",
    type=click.Choice([lane.value for lane in Lane if lane is not Lane.TEARDOWN]),
    help="Run this lane only (default: the backfill until it is done, then live and/or poll).",
)
force_option = click.option(
    "--force", is_flag=True, help="Run a paused or parked pipeline anyway (its status is left alone)."
)


@cli.command("sync-batch")
@click.argument("pipeline_id")
@lane_option
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
    help="Batches per lane; 0 = until the lane has nothing left.",
)
@click.option("--reset-state", is_flag=True, help="Backfill the selected streams again from the start.")
@click.option("--run-id", help="Continue this run (same id = skip streams it already finished).")
@click.option("--streams", help="Comma-separated streams (default: the pipeline's).")
@force_option
@click.option("--raw", is_flag=True, help="Print each batch's EofPayload as one JSON line on stdout.")
@json_option
@pass_cli
def sync_batch_command(
    cli_ctx: CliContext,
    pipeline_id: str,
    lane: str | None,
    state_limit: int,
    time_limit: float | None,
    loops: int,
    reset_state: bool,
    run_id: str | None,
    streams: str | None,
    force: bool,
    raw: bool,
) -> None:
    """Sync a stored pipeline in bounded batches, each checkpoint saved as it commits.

    \b
    Examples:
      sync-platform sync-batch shop --state-limit 100 --loop 0   # backfill, or catch up once ready
      sync-platform sync-batch shop --lane poll --loop 0         # read the events API now
      sync-platform sync-batch shop --raw | jq .has_more
    """
    options = RunOptions(
        state_limit=state_limit,
        time_limit=time_limit,
        max_batches=loops or None,
        streams=split_names(streams),
        reset_state=reset_state,
        force=force,
        run_id=run_id,
    )
    machine = raw or cli_ctx.json_output
    outcome = run_stored_pipeline(
        cli_ctx,
        pipeline_id,
        command="sync-batch",
        lanes=[Lane(lane)] if lane else None,
        options=options,
        raw="batches" if machine else None,
    )
    if outcome.failed is not None or (outcome.last_eof and outcome.last_eof.status is RunStatus.FAILED):
        sys.exit(EXIT_FAILED)
