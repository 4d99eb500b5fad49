"""``sync-platform streams``: the streams a source offers, each with a one-line description.

The list is the source's offline catalog (``engine.connectors.offline_catalog``; Stripe's comes from
the installed SDK), the same one ``pipelines create`` and ``update`` check ``--streams`` against, so
no API key, connection or database is needed.
"""

from __future__ import annotations

import re
from typing import Any

import click
from rich.table import Table

from sync_platform.cli.app import cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.output import json_option, print_json, stdout_console
from sync_platform.engine import ConnectorRegistry, offline_catalog
from sync_platform.protocol import CatalogPayload, Stream

_MARKDOWN_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_SENTENCE_END = re.compile(r"(?<=[\w)`][.!?])\s+(?=[A-Z`])")


def one_line(description: str | None) -> str:
    """The first sentence of a (markdown) description, links reduced to their text."""
    text = " ".join(_MARKDOWN_LINK.sub(r"\1", description or "").split())
    return _SENTENCE_END.split(text, maxsplit=1)[0]


def stream_description(stream: Stream) -> str:
    """What the source says a stream holds: its metadata's description, else its schema's."""
    for holder in (stream.metadata, stream.json_schema):
        described = (holder or {}).get("description")
        if isinstance(described, str) and described.strip():
            return one_line(described)
    return ""


def stream_json(stream: Stream) -> dict[str, Any]:
    """``{name, description, primary_key, metadata}``: metadata is the source's own facts per stream
    (for Stripe: list path, event types, whether listing filters by ``created``, nested lists)."""
    return {
        "name": stream.name,
        "description": stream_description(stream),
        "primary_key": stream.primary_key_fields(),
        "metadata": stream.metadata or {},
    }


def streams_table(source_type: str, catalog: CatalogPayload) -> Table:
    table = Table(
        title=f"Streams of source {source_type!r} ({len(catalog.streams)})",
        caption="Select some with `pipelines create --streams a,b`; leave --streams out for all.",
        expand=False,
    )
    table.add_column("stream", style="bold", no_wrap=True)
    table.add_column("description")
    for stream in catalog.streams:
        table.add_row(stream.name, stream_description(stream))
    return table


def _listing_sources(registry: ConnectorRegistry) -> list[str]:
    return [name for name in registry.names("source") if offline_catalog(registry.source(name)) is not None]


@cli.command("streams")
@click.option(
    "--source",
    "source_type",
    default="stripe",
    show_default=True,
    metavar="CONNECTOR",
    help="The source connector whose streams to list.",
)
@json_option
@pass_cli
def streams_command(cli_ctx: CliContext, source_type: str) -> None:
    """List the streams a source offers, each with a one-line description.

    \b
    Example:
      sync-platform streams
      sync-platform streams --json | jq -r '.[].name'
    """
    registry = cli_ctx.connector_registry()
    catalog = offline_catalog(registry.source(source_type))
    if catalog is None:
        raise click.BadParameter(
            f"source {source_type!r} knows its streams only from a pipeline's config, when it runs. "
            f"Sources that list theirs here: {', '.join(_listing_sources(registry)) or '(none)'}.",
            param_hint="--source",
        )
    if cli_ctx.json_output:
        print_json([stream_json(stream) for stream in catalog.streams])
    else:
        stdout_console().print(streams_table(source_type, catalog))
