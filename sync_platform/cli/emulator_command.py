"""``sync-platform emulator serve``: the offline Stripe API, for the demo, local development and tests."""

from __future__ import annotations

import click
from pydantic import SecretStr

from sync_platform.cli.app import cli
from sync_platform.emulator import Emulator, EmulatorConfig, FaultConfig, serve
from sync_platform.emulator.server import DEFAULT_PORT, LOCALHOST

DEFAULT_SERVE_OBJECTS = 5_000


@cli.group("emulator")
def emulator_group() -> None:
    """Run the offline Stripe API emulator (no Stripe account or network needed)."""


@emulator_group.command("serve")
@click.option("--host", default=LOCALHOST, show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65_535),
    default=DEFAULT_PORT,
    show_default=True,
    help="0 = any free port.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same generated data.")
@click.option(
    "--objects",
    type=click.IntRange(min=0),
    default=DEFAULT_SERVE_OBJECTS,
    show_default=True,
    help="Objects generated in the platform account, spread over every stream.",
)
@click.option(
    "--connected-accounts",
    type=click.IntRange(0, 10_000),
    default=0,
    show_default=True,
    help="Connect accounts with their own small data, built on first use (chosen by Stripe-Account).",
)
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    envvar="STRIPE_EMULATOR_API_KEYS",
    help="Accept this key (repeatable; sk_test_… or sk_live_…); default: a fresh sk_test_ key.",
)
@click.option(
    "--latency-ms",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Latency added to every API request.",
)
@click.option(
    "--error-ratio",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of API requests answered with a 500.",
)
@click.option(
    "--rate-limit",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Requests per second per key before 429s (default: unlimited).",
)
def serve_command(
    host: str,
    port: int,
    seed: int,
    objects: int,
    connected_accounts: int,
    api_keys: tuple[str, ...],
    latency_ms: float,
    error_ratio: float,
    rate_limit: float | None,
) -> None:
    """Serve a generated Stripe account on HTTP until Ctrl-C; prints the base URL and a test key."""
    config = EmulatorConfig(
        seed=seed,
        objects=objects,
        connected_accounts=connected_accounts,
        api_keys=tuple(SecretStr(key) for key in api_keys),
        faults=FaultConfig(latency_ms=latency_ms, error_ratio=error_ratio, rate_limit_per_second=rate_limit),
    )
    click.echo(f"Generating {objects:,} objects (seed {seed})...", err=True)
    emulator = Emulator(config)

    def announce(base_url: str) -> None:
        # The key is a fake one for this emulator only, printed so clients can be pointed at it.
        click.echo(f"Stripe emulator listening on {base_url}")
        click.echo(f"Secret key: {emulator.secret_key}")
        click.echo(f"Account: {emulator.account_id}")
        connected = emulator.connected_account_ids
        for account_id in connected[:10]:
            click.echo(f"Connected account: {account_id}")
        if len(connected) > 10:  # GET /v1/accounts lists them all
            click.echo(f"... and {len(connected) - 10:,} more connected accounts (GET /v1/accounts)")
        click.echo(
            "Admin API: POST /_emulator/objects/<stream>, /_emulator/connect/authorize|deauthorize|update, "
            "/_emulator/faults, /_emulator/reset. Ctrl-C stops."
        )

    serve(emulator, host=host, port=port, on_listening=announce)
