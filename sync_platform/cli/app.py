"""The ``sync-platform`` command group: global flags, logging, and error reporting.

Errors are one clear line (plus a hint when there is a next step to suggest), never a traceback,
unless ``--debug`` is given; with ``--json`` the error is one JSON object on stderr instead. Every
line is redacted, the ``--debug`` traceback included. Exit codes: 0 success, 1 a sync or check
failed, 2 bad input (usage, config, unknown pipeline), 3 a conflict (the pipeline is deleted,
already exists, or changed under you), 130 interrupted. With ``--remote URL`` the commands that
manage and run pipelines talk to a running ``sync-platform serve`` and exit with the same codes.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import sys
import traceback
from typing import Any

import click

from sync_platform.cli.app_database import APP_DATABASE_SCHEMA_ENV, APP_DATABASE_URL_ENV
from sync_platform.cli.context import CliContext
from sync_platform.embedded_postgres import DATABASE_URL_ENV
from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.pipelines import DEFAULT_SCHEMA, StoreUnavailableError
from sync_platform.redaction import install_redaction, redact

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_CONFLICT = 3
EXIT_INTERRUPTED = 130


REMOTE_COMMANDS = frozenset({"pipelines", "sync", "sync-batch", "streams"})
"""The commands that can act on a platform through ``--remote`` (the others run on its machine)."""


def exit_code_for(error: BaseException) -> int:
    if getattr(error, "http_status", None) in (409, 412):  # 412: a remote --expected-version
        return EXIT_CONFLICT
    if isinstance(error, ConfigError | ValueError | LookupError):
        return EXIT_BAD_INPUT
    return EXIT_FAILED


def hint_for(error: BaseException, settings: CliContext | None = None) -> str | None:
    """A next step the error message itself does not already give, or None.

    A command can attach one to an error it lets through (``error.cli_hint = "..."``), for a step
    that only makes sense on the command line (such as ``--skip-check``).
    """
    attached = getattr(error, "cli_hint", None)
    if isinstance(attached, str):
        return attached
    if isinstance(error, StoreUnavailableError):
        return _database_hint(settings)
    if not isinstance(error, SyncPlatformError):
        return "Rerun with --debug for the full traceback."
    return None


def _database_hint(settings: CliContext | None) -> str:
    """Names the setting the unreachable URL came from (the flag, its variable, or DATABASE_URL)."""
    if settings is not None and settings.database_url:
        origin = f"--database-url (or {APP_DATABASE_URL_ENV})"
        return f"Fix the URL given by {origin}, or leave it unset to use the embedded PostgreSQL."
    if os.environ.get(DATABASE_URL_ENV):
        return f"Fix {DATABASE_URL_ENV}, or unset it to use the embedded PostgreSQL."
    return "The embedded PostgreSQL did not answer; rerun with --debug for the details."


def _json_mode(ctx: click.Context) -> bool:
    return isinstance(ctx.obj, CliContext) and ctx.obj.json_output


def _report(ctx: click.Context, error: BaseException) -> None:
    message = (
        redact(str(error))
        if isinstance(error, SyncPlatformError)
        else redact(f"{type(error).__name__}: {error}")
    )
    hint = hint_for(error, ctx.obj if isinstance(ctx.obj, CliContext) else None)
    if _debug(ctx):
        click.echo(redact("".join(traceback.format_exception(error))), err=True, nl=False)
        hint = None if hint and "--debug" in hint else hint
    if _json_mode(ctx):
        payload = {
            "type": type(error).__name__,
            "message": message,
            "hint": hint,
            "exit_code": exit_code_for(error),
        }
        click.echo(json.dumps({"error": payload}), err=True)
        return
    click.echo(f"Error: {message}", err=True)
    if hint:
        click.echo(f"Hint: {hint}", err=True)


COMMAND_MODULES = {
    "demo": "demo_command",
    "dev": "dev_command",
    "emulator": "emulator_command",
    "pipelines": "pipelines_command",
    "serve": "serve_command",
    "serve-webhooks": "serve_webhooks_command",
    "streams": "streams_command",
    "sync": "sync_command",
    "sync-batch": "sync_batch_command",
    "tokens": "tokens_command",
}
"""Each command's module under ``sync_platform.cli``, imported when the command is looked up: the
module registers the command on ``cli``. A command then loads only what it uses (``sync-batch``
never imports the HTTP service, the demo or the dev stack)."""

COMMAND_SUMMARIES = {
    "demo": "Backfill a Stripe account into PostgreSQL (or Google Sheets) through Dagster, then apply "
    "live webhooks.",
    "dev": "Run the platform locally: Dagster UI + daemon, webhook receiver, PostgreSQL and a Stripe.",
    "emulator": "Run the offline Stripe API emulator (no Stripe account or network needed).",
    "pipelines": "Create, inspect and change pipelines (kept in the app database).",
    "serve": "Serve the pipelines API (OpenAPI at /openapi.json), the console at / and webhooks.",
    "serve-webhooks": "Receive Stripe webhooks at POST /webhooks/<pipeline id> and store them in the inbox.",
    "streams": "List the streams a source offers, each with a one-line description.",
    "sync": "Run a sync with live per-stream progress: a stored pipeline by id, or an ad-hoc one.",
    "sync-batch": "Sync a stored pipeline in bounded batches, each checkpoint saved as it commits.",
    "tokens": "Create, list and revoke the API tokens of `sync-platform serve`.",
}
"""Each command's line in ``sync-platform --help``, as click makes it from the command's help (a
test checks they agree): listing the commands from their modules imported every one of them, the
HTTP service, the demo and the dev stack among them (~0.8 s of CPU for one screen of text)."""


class SyncPlatformGroup(click.Group):
    """A click group that loads its commands on first use and turns platform errors into one
    redacted line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMAND_MODULES})

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """click's listing of the commands, with a command not loaded yet stood in for by its
        summary (``COMMAND_SUMMARIES``) instead of its module imported."""
        commands: list[tuple[str, click.Command]] = []
        for name in self.list_commands(ctx):
            command = self.commands.get(name)
            if command is None and name in COMMAND_SUMMARIES:
                command = click.Command(name, help=COMMAND_SUMMARIES[name])
            elif command is None:
                command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                commands.append((name, command))
        if commands:
            limit = formatter.width - 6 - max(len(name) for name, _ in commands)  # as click's
            with formatter.section("Commands"):
                formatter.write_dl([(name, command.get_short_help_str(limit)) for name, command in commands])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"sync_platform.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader of stdout went away (``| head``): stop quietly, as Unix tools do.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as error:
            _report(ctx, error)
            ctx.exit(exit_code_for(error))


def _debug(ctx: click.Context) -> bool:
    root = ctx.find_root()
    return bool(root.params.get("debug")) if root.params else False


def configure_logging(*, debug: bool, verbose: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    install_redaction(root)


@click.group(cls=SyncPlatformGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks (redacted) and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Show info logs.")
@click.option(
    "--json", "json_output", is_flag=True, help="Machine-readable JSON output (also after a command)."
)
@click.option(
    "--database-url",
    envvar=APP_DATABASE_URL_ENV,
    metavar="URL",
    help=f"App database (pipelines, checkpoints, webhook inbox). [env: {APP_DATABASE_URL_ENV}; default: "
    "DATABASE_URL, else an embedded PostgreSQL under SYNC_PLATFORM_HOME]",
)
@click.option(
    "--database-schema",
    envvar=APP_DATABASE_SCHEMA_ENV,
    default=DEFAULT_SCHEMA,
    show_default=True,
    help=f"Schema of the platform's tables in the app database. [env: {APP_DATABASE_SCHEMA_ENV}]",
)
@click.option(
    "--remote",
    "remote_url",
    envvar="SYNC_PLATFORM_REMOTE_URL",
    metavar="URL",
    help="Manage the platform served at URL (`sync-platform serve`) instead of the local app database: "
    "pipelines, sync <id>, sync-batch, streams. [env: SYNC_PLATFORM_REMOTE_URL]",
)
@click.option(
    "--token-env",
    default="SYNC_PLATFORM_TOKEN",
    show_default=True,
    metavar="NAME",
    help="With --remote: the environment variable holding the API token.",
)
@click.version_option(package_name="sync-platform")
@click.pass_context
def cli(
    ctx: click.Context,
    debug: bool,
    verbose: bool,
    json_output: bool,
    database_url: str | None,
    database_schema: str,
    remote_url: str | None,
    token_env: str,
) -> None:
    """Keep Stripe data in sync in PostgreSQL and Google Sheets."""
    configure_logging(debug=debug, verbose=verbose)
    settings = ctx.ensure_object(CliContext)
    if database_url:
        settings.database_url = database_url
    if ctx.get_parameter_source("database_schema") is not click.core.ParameterSource.DEFAULT:
        settings.database_schema = database_schema
    settings.json_output = settings.json_output or json_output
    if remote_url:
        if ctx.invoked_subcommand not in REMOTE_COMMANDS:
            raise click.UsageError(
                f"`sync-platform {ctx.invoked_subcommand}` runs on the platform's machine and cannot be used "
                f"with --remote (it works with: {', '.join(sorted(REMOTE_COMMANDS))})."
            )
        settings.remote_url = remote_url
        settings.token_env = token_env
    ctx.call_on_close(settings.close)
