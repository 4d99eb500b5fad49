"""The ``sync-platform`` command group: global flags, logging, and error reporting.

Errors are one clear line (plus the hint the error already carries), never a traceback, unless
``--debug`` is given. Exit codes: 0 success, 1 a sync or check failed, 2 bad input (usage or
config), 130 interrupted.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import click

from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.redaction import install_redaction, redact

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class SyncPlatformGroup(click.Group):
    """A click group that turns platform errors into one redacted line and an exit code."""

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
        except SyncPlatformError as error:
            if _debug(ctx):
                raise
            click.echo(f"Error: {redact(str(error))}", err=True)
            ctx.exit(
                EXIT_BAD_INPUT if isinstance(error, ConfigError | ValueError | LookupError) else EXIT_FAILED
            )
        except Exception as error:
            if _debug(ctx):
                raise
            click.echo(f"Error: {type(error).__name__}: {redact(str(error))}", err=True)
            click.echo("Hint: rerun with --debug for the full traceback.", err=True)
            ctx.exit(EXIT_FAILED)


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
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("-v", "--verbose", is_flag=True, help="Show info logs.")
@click.version_option(package_name="sync-platform")
def cli(debug: bool, verbose: bool) -> None:
    """Keep Stripe data in sync in PostgreSQL and Google Sheets."""
    configure_logging(debug=debug, verbose=verbose)
