"""``sync-platform serve``: the HTTP service (pipelines API, console, webhook receiver) with uvicorn.

A thin shell over ``sync_platform.service``: it opens the app database and the engine as every
command does, reads Dagster's runs when a Dagster instance is configured (``DAGSTER_HOME``) so the
run history links to the Dagster UI, and serves until Ctrl-C or SIGTERM (runs still streaming are
cancelled, keeping their committed checkpoints).
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

import click

from sync_platform.cli.app import cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.pipelines.run_log import RunHistory
from sync_platform.service import (
    DAGSTER_URL_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    PUBLIC_URL_ENV,
    Services,
    ServiceSettings,
    create_service_app,
    serve,
)
from sync_platform.webhooks import ReceiverSettings, configure_json_logging

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """SIGTERM or Ctrl-C, re-raised by uvicorn once its graceful shutdown is done."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signal.Signals(signum).name)


def dagster_runs(environ: dict[str, str] | None, dagster_url: str | None) -> RunHistory | None:
    """Dagster's runs when an instance is configured (``DAGSTER_HOME``), else None."""
    import os

    if not (environ or os.environ).get("DAGSTER_HOME"):
        return None
    from sync_platform.defs.run_history import DagsterRunHistory

    return DagsterRunHistory(dagster_url=dagster_url)


@cli.command("serve")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--dagster-url",
    envvar=DAGSTER_URL_ENV,
    metavar="URL",
    help=f"The Dagster UI, which run lists link to. [env: {DAGSTER_URL_ENV}]",
)
@click.option(
    "--public-url",
    envvar=PUBLIC_URL_ENV,
    metavar="URL",
    help=f"How Stripe reaches this service (each pipeline's webhook endpoint). [env: {PUBLIC_URL_ENV}]",
)
@click.option(
    "--db-connections",
    type=click.IntRange(min=2, max=64),
    default=10,
    show_default=True,
    help="App database connections (shared by requests and webhook inserts).",
)
@click.option("--no-console", is_flag=True, help="Serve the API and webhooks only.")
@pass_cli
@click.pass_context
def serve_command(
    ctx: click.Context,
    cli_ctx: CliContext,
    host: str,
    port: int,
    dagster_url: str | None,
    public_url: str | None,
    db_connections: int,
    no_console: bool,
) -> None:
    """Serve the pipelines API (OpenAPI at /openapi.json), the console at / and webhooks.

    Every endpoint but /health and /webhooks/<id> needs an API token
    (`sync-platform tokens create --name NAME`).

    \b
    Example:
      sync-platform serve --port 8080 --dagster-url http://127.0.0.1:3000
    """
    root = ctx.find_root().params
    configure_json_logging(logging.DEBUG if root.get("debug") else logging.INFO)
    settings = ServiceSettings.from_environ(cli_ctx.env)
    settings = ServiceSettings(
        dagster_url=(dagster_url or "").rstrip("/") or settings.dagster_url,
        public_url=(public_url or "").rstrip("/") or settings.public_url,
        retention=settings.retention,
    )
    history = dagster_runs(dict(cli_ctx.env), settings.dagster_url)
    services = Services(
        cli_ctx.store(max_connections=db_connections),
        cli_ctx.engine(),
        settings=settings,
        dagster_runs=history,
    )
    receiver = ReceiverSettings(database_concurrency=db_connections)
    app = create_service_app(services, console=not no_console, receiver_settings=receiver)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    logger.info("serving sync_platform on http://%s:%s", host, port)
    try:
        serve(app, host=host, port=port)
    except _Stopped as stopped:
        logger.info("service exited", extra={"signal": str(stopped)})
