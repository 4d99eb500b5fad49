"""``sync-platform serve-webhooks``: the webhook receiver, a thin shell over ``webhooks.run``."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

import click

from sync_platform.cli.app import cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.webhooks import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    DEFAULT_TTL_SECONDS,
    MAX_BODY_BYTES,
    ReceiverSettings,
    configure_json_logging,
    create_app,
)
from sync_platform.webhooks.server import WebhookServer, bind_socket

logger = logging.getLogger(__name__)


class _Stopped(Exception):
    """SIGTERM or Ctrl-C, re-raised by uvicorn once its graceful shutdown is done."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signal.Signals(signum).name)


@cli.command("serve-webhooks")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--target-ttl",
    type=click.FloatRange(min=0),
    default=DEFAULT_TTL_SECONDS,
    show_default=True,
    help="Seconds a pipeline's status and secrets are cached (how long a delete takes to show).",
)
@click.option(
    "--db-connections",
    type=click.IntRange(min=1, max=64),
    default=8,
    show_default=True,
    help="App database connections (and concurrent inserts).",
)
@click.option(
    "--max-body-bytes", type=click.IntRange(min=1), default=MAX_BODY_BYTES, show_default=True, hidden=True
)
@pass_cli
@click.pass_context
def serve_webhooks_command(
    ctx: click.Context,
    cli_ctx: CliContext,
    host: str,
    port: int,
    target_ttl: float,
    db_connections: int,
    max_body_bytes: int,
) -> None:
    """Receive Stripe webhooks at POST /webhooks/<pipeline id> and store them in the inbox.

    Logs are JSON lines on stderr (one per request: pipeline_id, event_id, outcome). Ctrl-C stops
    it gracefully: requests in flight finish first.

    \b
    Example:
      sync-platform serve-webhooks --host 0.0.0.0 --port 8787
      # Stripe endpoint URL: https://<your host>/webhooks/<pipeline id>
    """
    root = ctx.find_root().params
    configure_json_logging(logging.DEBUG if root.get("debug") else logging.INFO)
    store = cli_ctx.store(max_connections=db_connections)
    settings = ReceiverSettings(
        max_body_bytes=max_body_bytes, target_ttl_seconds=target_ttl, database_concurrency=db_connections
    )
    if threading.current_thread() is threading.main_thread():
        # uvicorn handles the signals while serving, then re-raises them: end the command normally.
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    sock = bind_socket(host, port)  # bound here, so the port chosen for --port 0 can be printed
    server = WebhookServer(create_app(store, settings=settings), sock=sock)
    # The address on stdout, on its own line (the JSON logs are on stderr): with --port 0 this is
    # the only place a script or a person learns the port.
    click.echo(f"Receiving Stripe webhooks at {server.url}/webhooks/<pipeline_id>", nl=True)
    sys.stdout.flush()
    try:
        server.serve()
    except _Stopped as stopped:
        logger.info("webhook receiver exited", extra={"signal": str(stopped)})
    finally:
        sock.close()
