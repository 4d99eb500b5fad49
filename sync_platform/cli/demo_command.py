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

from sync_platform.cli.app import cli
from sync_platform.cli.demo_destinations import DEMO_DESTINATIONS, LABELS, DemoDestination
from sync_platform.cli.dev_env import url_without_password
from sync_platform.cli.local_stack import exported, local_stack
from sync_platform.cli.output import stderr_console, stdout_console
from sync_platform.embedded_postgres import psql_command


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

    from sync_platform.cli.demo_flow import Demo
    from sync_platform.cli.demo_report import outcome_tables, where_to_look

    progress = stderr_console()  # steps and the live table: stderr
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
        progress.print(f"[bold]sync_platform demo[/]: {stripe} -> {target}, orchestrated by Dagster")
        progress.print(f"Data and the Dagster instance live in {stack.home}\n")
        instance = dg.DagsterInstance.get()
        try:
            outcome = Demo(stack, progress, instance=instance, destination=destination).run(pipeline_id)
        finally:
            instance.dispose()
        warehouse = url_without_password(stack.warehouse_url)
    results = stdout_console()  # what the demo did and where to look: stdout, for `make demo > out.txt`
    for table in outcome_tables(outcome):
        results.print(table)
    connect = psql_command(warehouse) if warehouse and not sheets else None
    closing = "\n".join(["", *where_to_look(outcome, connect=connect, sheets=sheets)])
    results.print(closing, markup=False, soft_wrap=True)  # commands stay on one line to copy
