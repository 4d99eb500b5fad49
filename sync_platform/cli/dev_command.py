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
from collections.abc import Mapping
from pathlib import Path

import click

from sync_platform.cli.app import cli
from sync_platform.cli.app_database import SECRET_KEY_FILE
from sync_platform.cli.dev_env import (
    DEV_PID_ENV,
    LOCAL_RECEIVER_URL_ENV,
    LOCAL_STRIPE_URL_ENV,
    block_lines,
    env_path,
    remove_block,
    url_without_password,
    write_block,
)
from sync_platform.cli.local_service import local_service
from sync_platform.cli.local_stack import (
    APP_DATABASE_URL_ENV,
    DAGSTER_DATABASE_URL_ENV,
    EMULATOR_KEY_FILE,
    PROJECT_ROOT,
    STRIPE_KEY_ENV,
    WAREHOUSE_URL_ENV,
    LocalStack,
    exported,
    listed_pipelines,
    local_stack,
    reprovision_local_webhooks,
)
from sync_platform.embedded_postgres import HOME_ENV
from sync_platform.pipelines import SECRET_KEY_ENV

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


def dotenv_lines(stack: LocalStack, environ: Mapping[str, str]) -> list[str]:
    """The ``.env`` block for this stack: locations and URLs in clear, secrets as ``*_FILE`` paths."""
    password = "the URL holds a password; export it in your shell"
    mine = "set in your shell, so it stays there"
    if environ.get(SECRET_KEY_ENV):
        secret_key_file = None
    else:
        secret_key_file = environ.get(f"{SECRET_KEY_ENV}_FILE") or str(stack.home / SECRET_KEY_FILE)
    variables: dict[str, str | None] = {
        DEV_PID_ENV: str(os.getpid()),
        HOME_ENV: str(stack.home),
        "DAGSTER_HOME": stack.environ["DAGSTER_HOME"],
        DAGSTER_DATABASE_URL_ENV: url_without_password(stack.environ[DAGSTER_DATABASE_URL_ENV]),
        APP_DATABASE_URL_ENV: url_without_password(stack.app_url),
        WAREHOUSE_URL_ENV: url_without_password(stack.warehouse_url),
        f"{SECRET_KEY_ENV}_FILE": secret_key_file,
    }
    comments = {
        DAGSTER_DATABASE_URL_ENV: password,
        APP_DATABASE_URL_ENV: password,
        WAREHOUSE_URL_ENV: password,
        f"{SECRET_KEY_ENV}_FILE": f"{SECRET_KEY_ENV} is {mine}",
        f"{STRIPE_KEY_ENV}_FILE": f"{STRIPE_KEY_ENV} (real Stripe) is {mine}",
    }
    if stack.uses_emulator:
        variables[f"{STRIPE_KEY_ENV}_FILE"] = str(stack.home / EMULATOR_KEY_FILE)
        variables[LOCAL_STRIPE_URL_ENV] = stack.stripe_base_url
        variables[LOCAL_RECEIVER_URL_ENV] = stack.receiver_url
    else:
        variables[f"{STRIPE_KEY_ENV}_FILE"] = None
    return block_lines(variables, comments)


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM (a service manager, ``kill``) stops the stack as cleanly as Ctrl-C does."""
    raise KeyboardInterrupt


# `dagster dev` announces on every start that `dg dev` supersedes it; `dg` is not installed here.
QUIET_SUPERSESSION = "ignore:Function `dev_command` is superseded"


def _quiet(environ: Mapping[str, str]) -> str:
    return ",".join(filter(None, [environ.get("PYTHONWARNINGS"), QUIET_SUPERSESSION]))


def banner(stack: LocalStack, *, dagster_url: str, console_url: str, token: str, pipelines: int,
           reprovisioned: int, dotenv: Path) -> str:  # fmt: skip
    """What ``dev`` prints once everything is up (no secret but the session's own admin token)."""
    if stack.uses_emulator:
        stripe = (
            f"emulator at {stack.stripe_base_url}  (key in {stack.home / EMULATOR_KEY_FILE}, "
            f"as {STRIPE_KEY_ENV}_FILE in .env)"
        )
    else:
        stripe = f"api.stripe.com ({STRIPE_KEY_ENV})"
    return "\n".join(
        [
            "sync_platform dev stack is up:",
            f"  Dagster UI        {dagster_url}",
            f"  pipeline console  {console_url}  (API: {console_url}/openapi.json)",
            f"  admin token       {token}  (this session's; revoked on exit)",
            f"  webhook receiver  {stack.receiver_url}/webhooks/<pipeline_id>",
            f"  Stripe            {stripe}",
            f"  warehouse         psql '{url_without_password(stack.warehouse_url) or WAREHOUSE_URL_ENV}'",
            f"  data              {stack.home}",
            f"  environment       {dotenv} (for `dagster` and `sync-platform` in this directory)",
            f"  pipelines         {pipelines} ({reprovisioned} re-registered with the emulator's webhooks)",
            "In another terminal in this directory: `.venv/bin/sync-platform pipelines create ...`, "
            "`.venv/bin/dagster sensor list` (see README.md). Ctrl-C stops everything.",
        ]
    )


@cli.command("dev")
@click.option("--host", default="127.0.0.1", show_default=True, help="Dagster webserver host.")
@click.option("--port", default=3000, show_default=True, type=int, help="Dagster webserver port.")
@click.option("--objects", default=3000, show_default=True, type=int, help="Emulator objects (no real key).")
def dev_command(host: str, port: int, objects: int) -> None:
    """Run the platform locally: Dagster UI + daemon, webhook receiver, PostgreSQL and a Stripe."""
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    from sync_platform.defs.stream_metadata import CONSOLE_URL_ENV  # Dagster: only when dev runs

    dagster_url = f"http://{host}:{port}"
    dotenv = env_path()
    shell = dict(os.environ)  # before the stack's variables are exported into this process
    with (
        local_stack(objects=objects) as stack,
        exported(stack.environ),  # the service reads Dagster's runs from the stack's instance
        local_service(stack, dagster_url=dagster_url) as service,
    ):
        pipelines = listed_pipelines(stack)
        reprovisioned = reprovision_local_webhooks(stack, pipelines)
        environ = {**os.environ, **stack.environ, CONSOLE_URL_ENV: service.url}
        environ["PYTHONWARNINGS"] = _quiet(environ)
        home = Path(stack.environ["DAGSTER_HOME"])
        dagster = str(Path(sys.executable).with_name("dagster"))
        concurrency = [dagster, "instance", "concurrency", "set", "stripe_api", "4"]
        subprocess.run(concurrency, env=environ, cwd=home, check=False, capture_output=True)
        write_block(dotenv, dotenv_lines(stack, shell))
        try:
            # From DAGSTER_HOME: `dagster dev` warns when the directory it starts in holds a
            # dagster.yaml other than DAGSTER_HOME's (the project's template is one).
            process = subprocess.Popen(
                dagster_command(host, port), env=environ, cwd=home, start_new_session=True
            )
            click.echo(
                banner(stack, dagster_url=dagster_url, console_url=service.url, token=service.token,
                       pipelines=len(pipelines), reprovisioned=len(reprovisioned), dotenv=dotenv),
                err=True,
            )  # fmt: skip
            try:
                while process.poll() is None:
                    time.sleep(0.5)
            except KeyboardInterrupt:
                click.echo("Stopping...", err=True)
            finally:
                stop(process)
        finally:
            remove_block(dotenv)
