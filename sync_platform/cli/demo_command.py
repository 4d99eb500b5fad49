"""``sync-platform demo``: the main job on embedded defaults, with nothing to install or configure.

Starts the local stack (embedded PostgreSQL, the Stripe emulator unless ``STRIPE_API_KEY`` is set,
the webhook receiver, and with ``--destination google_sheets`` the local Google Sheets API), then
runs the whole platform once through Dagster: a pipeline is backfilled asset by asset, objects
change in Stripe, their webhooks land, and the changes are read back from the destination (the
PostgreSQL table, or the spreadsheet tab). The runs stay in the Dagster instance that ``make dev``
opens.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import click
from rich.console import Console

from sync_platform.cli.app import cli
from sync_platform.cli.demo_destinations import DEMO_DESTINATIONS, LABELS, DemoDestination
from sync_platform.cli.local_stack import exported, local_stack


@cli.command("demo")
@click.option("--objects", default=3000, show_default=True, type=click.IntRange(min=10),
              help="Objects in the emulated Stripe account.")  # fmt: skip
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the emulated account's data.")
@click.option("--destination", "destination", default="postgres", show_default=True,
              type=click.Choice(DEMO_DESTINATIONS),
              help="Where the pipeline writes: the embedded PostgreSQL, or a spreadsheet on the local "
              "Google Sheets API (a generated service account; nothing leaves the machine).")  # fmt: skip
def demo_command(objects: int, seed: int, destination: DemoDestination) -> None:
    """Backfill a Stripe account into PostgreSQL (or Google Sheets) through Dagster, then apply live
    webhooks."""
    import dagster as dg

    from sync_platform.cli.demo_flow import Demo, outcome_tables

    console = Console(stderr=True, highlight=False)
    pipeline_id = f"demo_{datetime.now(UTC):%Y%m%d_%H%M%S}"
    sheets = destination == "google_sheets"
    with (
        local_stack(objects=objects, seed=seed, sheets=sheets) as stack,
        exported(stack.environ),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("ignore")
        stripe = "the Stripe emulator" if stack.uses_emulator else "Stripe (STRIPE_API_KEY)"
        target = f"{LABELS[destination]} (the local Sheets API)" if sheets else LABELS[destination]
        console.print(f"[bold]sync_platform demo[/]: {stripe} -> {target}, orchestrated by Dagster")
        console.print(f"Data and the Dagster instance live in {stack.home}\n")
        instance = dg.DagsterInstance.get()
        try:
            outcome = Demo(stack, console, instance=instance, destination=destination).run(pipeline_id)
        finally:
            instance.dispose()
    for table in outcome_tables(outcome):
        console.print(table)
    console.print(f"\nThe synced data is in {outcome.where}.")
    if sheets:
        console.print(
            "The local Sheets API kept the spreadsheet in memory; it is gone now that the demo ended."
        )
    console.print(
        f"\nDone in {outcome.seconds:.0f} s: backfill run {outcome.backfill_run}, "
        f"{len(outcome.live_runs)} live run(s). Run [bold]make dev[/] and open http://127.0.0.1:3000 "
        "to see the runs, the asset graph and each batch's checkpoint."
    )
    console.print(
        f"The pipeline console: [bold]make dev[/] prints an admin token; sign in at "
        f"http://127.0.0.1:8080 and open http://127.0.0.1:8080/console/pipelines/{pipeline_id}"
    )
