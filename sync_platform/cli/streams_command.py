"""``sync-platform streams``: the streams a source offers, each with a one-line description.

The list is the source's offline catalog (``engine.connectors.offline_catalog``; Stripe's comes from
the installed SDK), the same one ``pipelines create`` and ``update`` check ``--streams`` against, so
no API key, connection or database is needed.
"""

from __future__ import annotations

import click
from rich.table import Table

from sync_platform.cli.app import cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.output import json_option, print_json, stdout_console
from sync_platform.engine import ConnectorRegistry, offline_catalog
from sync_platform.pipelines.stream_listing import one_line, stream_description, stream_json
from sync_platform.protocol import CatalogPayload

__all__ = ["one_line", "stream_description", "stream_json", "streams_command", "streams_table"]


def streams_table(source_type: str, catalog: CatalogPayload) -> Table:
    return _table(source_type, [(stream.name, stream_description(stream)) for stream in catalog.streams])


def _table(source_type: str, rows: list[tuple[str, str]]) -> Table:
    table = Table(
        title=f"Streams of source {source_type!r} ({len(rows)})",
        caption="Select some with `pipelines create --streams a,b`; leave --streams out for all.",
        expand=False,
    )
    table.add_column("stream", style="bold", no_wrap=True)
    table.add_column("description")
    for name, description in rows:
        table.add_row(name, description)
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
    remote = cli_ctx.remote()
    if remote is not None:
        listed = remote.request("GET", "/streams", params={"source": source_type})["data"]
        rows = [
            {key: stream[key] for key in ("name", "description", "primary_key", "metadata")}
            for stream in listed
        ]
        if cli_ctx.json_output:
            print_json(rows)
        else:
            stdout_console().print(_table(source_type, [(row["name"], row["description"]) for row in rows]))
        return
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
