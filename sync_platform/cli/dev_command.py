"""``sync-platform dev``: the whole platform on this machine, in one command.

Starts the local stack (embedded PostgreSQL, the Stripe emulator unless ``STRIPE_API_KEY`` is
set, the webhook receiver), the HTTP service with the pipeline console (``sync-platform serve``,
with an admin token made for this session and revoked when it ends) and ``dagster dev`` (webserver +
daemon, so sensors and schedules run) against it, prints where everything is, and stops it all
cleanly on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from sync_platform.cli.app import cli
from sync_platform.cli.local_service import local_service
from sync_platform.cli.local_stack import (
    PROJECT_ROOT,
    exported,
    listed_pipelines,
    local_stack,
    reprovision_local_webhooks,
)

SHUTDOWN_GRACE_SECONDS = 20


def dagster_command(host: str, port: int) -> list[str]:
    """``dagster dev`` on the project's workspace (or the module, when installed without it)."""
    executable = str(Path(sys.executable).with_name("dagster"))
    workspace = PROJECT_ROOT / "workspace.yaml"
    target = ["-w", str(workspace)] if workspace.exists() else ["-m", "sync_platform.defs.definitions"]
    return [executable, "dev", *target, "-h", host, "-p", str(port)]


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop ``dagster dev`` and everything it started (its own session: webserver, daemon, code
    servers, runs): Ctrl-C first, as a terminal would send it, then insist. ``dagster dev`` ignores
    SIGTERM when it does not lead its own session (reference/dagster.md, pitfall 12)."""
    for sig, grace in ((signal.SIGINT, SHUTDOWN_GRACE_SECONDS), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        if process.poll() is not None:
            break
        try:
            os.killpg(process.pid, sig)
            process.wait(grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
    with contextlib.suppress(ProcessLookupError):  # stragglers of the group (a run still finishing)
        os.killpg(process.pid, signal.SIGKILL)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a service manager, ``kill``) stops the stack as cleanly as Ctrl-C does."""
    raise KeyboardInterrupt


@cli.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dagster webserver host.")
@click.option("--port", default=3000, show_default=True, type=int, help="Dagster webserver port.")
@click.option("--objects", default=3000, show_default=True, type=int, help="Emulator objects (no real key).")
def dev_command(host: str, port: int, objects: int) -> None:
    """Run the platform locally: Dagster UI + daemon, webhook receiver, PostgreSQL and a Stripe."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    from sync_platform.defs.stream_metadata import CONSOLE_URL_ENV  # Dagster: only when dev runs

    dagster_url = f"http://{host}:{port}"
    with (
        local_stack(objects=objects) as stack,
        exported(stack.environ),  # the service reads Dagster's runs from the stack's instance
        local_service(stack, dagster_url=dagster_url) as service,
    ):
        pipelines = listed_pipelines(stack)
        reprovisioned = reprovision_local_webhooks(stack, pipelines)
        environ = {**os.environ, **stack.environ, CONSOLE_URL_ENV: service.url}
        subprocess.run(
            [
                str(Path(sys.executable).with_name("dagster")),
                "instance",
                "concurrency",
                "set",
                "stripe_api",
                "4",
            ],
            env=environ,
            cwd=PROJECT_ROOT,
            check=False,
            capture_output=True,
        )
        process = subprocess.Popen(
            dagster_command(host, port), env=environ, cwd=PROJECT_ROOT, start_new_session=True
        )
        stripe = (
            f"emulator at {stack.stripe_base_url}"
            if stack.uses_emulator
            else "api.stripe.com (STRIPE_API_KEY)"
        )
        click.echo(
            "\n".join(
                [
                    "sync_platform dev stack is up:",
                    f"  Dagster UI        {dagster_url}",
                    f"  pipeline console  {service.url}  (API: {service.url}/openapi.json)",
                    f"  admin token       {service.token}  (this session's; revoked on exit)",
                    f"  webhook receiver  {stack.receiver_url}/webhooks/<pipeline_id>",
                    f"  Stripe            {stripe}",
                    f"  data              {stack.home}",
                    f"  pipelines         {len(pipelines)} "
                    f"({len(reprovisioned)} re-registered with the emulator's webhooks)",
                    "Create pipelines in the console or with `sync-platform pipelines create ...` (or "
                    f"`sync-platform --remote {service.url} pipelines ...` with the token in "
                    "SYNC_PLATFORM_TOKEN); Ctrl-C stops everything.",
                ]
            ),
            err=True,
        )
        try:
            while process.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            click.echo("Stopping...", err=True)
        finally:
            stop(process)
