"""``sync-platform demo``: the main job on embedded defaults, with nothing to install or configure.

Starts the local stack (embedded PostgreSQL, the Stripe emulator unless ``STRIPE_API_KEY`` is set,
the webhook receiver), then runs the whole platform once through Dagster: a pipeline is backfilled
asset by asset, objects change in Stripe, their webhooks land, and the changes are read back from
PostgreSQL. The runs stay in the Dagster instance that ``make dev`` opens.
"""

from __future__ import annotations

import warnings
from datetime import UTC, datetime

import click
from rich.console import Console

from sync_platform.cli.app import cli
from sync_platform.cli.local_stack import exported, local_stack


@cli.command("demo")
@click.option("--objects", default=3000, show_default=True, type=click.IntRange(min=10),
              help="Objects in the emulated Stripe account.")  # fmt: skip
@click.option("--seed", default=7, show_default=True, type=int, help="Seed of the emulated account's data.")
def demo_command(objects: int, seed: int) -> None:
    """Backfill a Stripe account into PostgreSQL through Dagster, then apply live webhooks."""
    import dagster as dg

    from sync_platform.cli.demo_flow import Demo, outcome_tables

    console = Console(stderr=True, highlight=False)
    pipeline_id = f"demo_{datetime.now(UTC):%Y%m%d_%H%M%S}"
    with local_stack(objects=objects, seed=seed) as stack, exported(stack.environ), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stripe = "the Stripe emulator" if stack.uses_emulator else "Stripe (STRIPE_API_KEY)"
        console.print(f"[bold]sync_platform demo[/]: {stripe} -> PostgreSQL, orchestrated by Dagster")
        console.print(f"Data and the Dagster instance live in {stack.home}\n")
        instance = dg.DagsterInstance.get()
        try:
            outcome = Demo(stack, console, instance=instance).run(pipeline_id)
        finally:
            instance.dispose()
    for table in outcome_tables(outcome):
        console.print(table)
    console.print(
        f"\nDone in {outcome.seconds:.0f} s: backfill run {outcome.backfill_run}, "
        f"{len(outcome.live_runs)} live run(s). Run [bold]make dev[/] and open http://127.0.0.1:3000 "
        "to see the runs, the asset graph and each batch's checkpoint."
    )
