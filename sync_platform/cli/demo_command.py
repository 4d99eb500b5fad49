"""``sync-platform demo``: the offline quick start, on embedded defaults with nothing to set up."""

from __future__ import annotations

import sys

import click

from sync_platform.cli.app import EXIT_FAILED, cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.output import json_option, print_json
from sync_platform.cli.sync_command import build_pipeline, run_sync_loop
from sync_platform.engine import Engine
from sync_platform.protocol import RunStatus

DEMO_STREAMS = {"customer": 60_000, "invoice": 120_000, "charge": 90_000, "subscription": 30_000}


@cli.command("demo")
@click.option(
    "--records", type=click.IntRange(min=1), default=None, help="Records per stream (overrides the mix)."
)
@json_option
@pass_cli
def demo_command(cli_ctx: CliContext, records: int | None) -> None:
    """Sync a generated account through the engine, in checkpointed batches, with live progress."""
    streams = dict.fromkeys(DEMO_STREAMS, records) if records else DEMO_STREAMS
    pipeline = build_pipeline("fixture", {"streams": streams, "state_every": 500}, "null", {}, None)
    if not cli_ctx.json_output:
        click.echo(
            f"Demo: syncing {sum(streams.values()):,} generated records across {len(streams)} streams "
            "(fixture source -> null destination), 50 checkpoints per batch.",
            err=True,
        )
    eof = run_sync_loop(
        Engine(),
        pipeline,
        state=None,
        run_id=None,
        time_limit=None,
        state_limit=50,
        raw=False,
        title="demo",
        quiet=cli_ctx.json_output,
    )
    if cli_ctx.json_output:
        print_json(eof.to_wire())
    if eof.status is RunStatus.FAILED:
        sys.exit(EXIT_FAILED)
