"""How commands print: JSON for machines (``--json``), rich tables for people, secrets masked in both.

Pipelines are already masked by their model (``Pipeline.masked()``); everything printed here also
goes through ``sync_platform.redaction`` as a second net, so a key that reached some other field
(a connector's error message, a log line) is still masked.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from rich.console import Console

from sync_platform.cli.context import CliContext
from sync_platform.redaction import redact_value

F = TypeVar("F", bound=Callable[..., Any])


def plural(count: int, noun: str) -> str:
    """``1 record``, ``2 records``, ``3 batches``: a count with its noun agreeing."""
    if count == 1:
        return f"{count:,} {noun}"
    return f"{count:,} {noun}{'es' if noun.endswith(('s', 'x', 'ch', 'sh')) else 's'}"


PIPED_WIDTH = 200
"""Columns for tables written to a file or a pipe: rich assumes 80 there, and wraps every cell."""


def _width(file: Any) -> int | None:
    """None on a terminal (rich measures it); ``$COLUMNS`` or ``PIPED_WIDTH`` otherwise."""
    if file.isatty():
        return None
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() else PIPED_WIDTH


def stdout_console() -> Console:
    """A console on the current stdout (looked up per call, so click's test runner captures it)."""
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=_width(sys.stdout))


def stderr_console() -> Console:
    return Console(file=sys.stderr, highlight=False, width=_width(sys.stderr))


def dump_json(data: Any, *, indent: int | None = 2) -> str:
    return json.dumps(redact_value(data), indent=indent, default=str, ensure_ascii=False)


def print_json(data: Any, *, indent: int | None = 2) -> None:
    """``data`` as JSON on stdout (one document; ``indent=None`` for one line)."""
    click.echo(dump_json(data, indent=indent))


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        ctx.ensure_object(CliContext).json_output = True


def json_option(function: F) -> F:
    """``--json`` on a command: the same switch as the root flag, accepted after the command name."""
    return click.option(
        "--json",
        "json_output",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_json,
        help="Print machine-readable JSON (secrets masked).",
    )(function)
