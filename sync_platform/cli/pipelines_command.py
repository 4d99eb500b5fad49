"""``sync-platform pipelines …``: create, list, get, update, pause, resume, delete and check pipelines.

Every command reads and writes the app database through ``PipelineStore`` (or, with ``--remote``,
a running ``sync-platform serve`` that does, printing the same; ``pipeline_backend``); secrets go in as
``{"env": ...}`` references (``--source.<field>-env VAR``) or plaintext that the store encrypts,
and come out masked. ``delete`` only records the intent (``desired_status = deleted``): the
platform tears the pipeline down, and a deleted pipeline can no longer be changed (exit 3).
"""

from __future__ import annotations

from typing import Literal

import click

from sync_platform.cli.app import EXIT_FAILED, cli
from sync_platform.cli.connector_flags import ConnectorFlagsCommand, connector_flags
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.options import load_document, split_given_names
from sync_platform.cli.output import json_option, print_json, stdout_console
from sync_platform.cli.pipeline_input import creation_request, update_request
from sync_platform.cli.pipeline_views import (
    check_line,
    created_line,
    lifecycle_line,
    pipeline_json,
    pipeline_table,
    pipelines_table,
)
from sync_platform.pipelines import DesiredStatus, Pipeline
from sync_platform.pipelines.leftovers import leftovers

__all__ = ["leftovers", "pipelines_group"]

SHORTHAND_HELP = """
\b
Connector fields (from the connector's spec; kebab-case or snake_case):
  --source.<field> VALUE           set a field (JSON-parsed unless it is a string field)
  --source.<field>-env VAR         a secret read from environment variable VAR where the pipeline runs
  --destination.<field> VALUE      the same for the destination
"""

file_option = click.option(
    "-f", "--file", "file_", metavar="FILE", help="Pipeline file (YAML or JSON), or inline JSON."
)
expected_version_option = click.option(
    "--expected-version",
    type=click.IntRange(min=1),
    help="Only change the pipeline if it is still at this version (as `get` showed it).",
)


@cli.group("pipelines")
def pipelines_group() -> None:
    """Create, inspect and change pipelines (kept in the app database)."""


def _print_pipeline(cli_ctx: CliContext, pipeline: Pipeline, *, pending_events: int | None = None) -> None:
    if cli_ctx.json_output:
        print_json(pipeline_json(pipeline, pending_events=pending_events))
    else:
        stdout_console().print(pipeline_table(pipeline, pending_events=pending_events))


@pipelines_group.command("create", cls=ConnectorFlagsCommand, epilog=SHORTHAND_HELP)
@file_option
@click.option("--id", "pipeline_id", help="Pipeline id (default: generated pipe_<hex>).")
@click.option("--source", "source_type", metavar="CONNECTOR", help="Source connector, e.g. stripe.")
@click.option(
    "--destination", "destination_type", metavar="CONNECTOR", help="Destination connector, e.g. postgres."
)
@click.option(
    "--streams",
    help="Comma-separated streams to sync (default: all; `sync-platform streams` lists them).",
)
@click.option("--paused", is_flag=True, help="Create it paused (the platform sets nothing up until resumed).")
@click.option(
    "--skip-check",
    is_flag=True,
    help="Store it without the connection check (configs and streams are still validated).",
)
@json_option
@pass_cli
@click.pass_context
def create_command(
    ctx: click.Context,
    cli_ctx: CliContext,
    file_: str | None,
    pipeline_id: str | None,
    source_type: str | None,
    destination_type: str | None,
    streams: str | None,
    paused: bool,
    skip_check: bool,
) -> None:
    """Create a pipeline: configs and streams validated, connectors checked unless --skip-check.

    \b
    Example:
      sync-platform pipelines create --id shop \\
        --source stripe --source.api-key-env STRIPE_API_KEY \\
        --destination postgres --destination.url-env DEST_DATABASE_URL
    """
    backend = cli_ctx.pipelines()
    request = creation_request(
        load_document(file_, option="--file"),
        configs=backend.configs,
        pipeline_id=pipeline_id,
        connector_types={"source": source_type, "destination": destination_type},
        flags=connector_flags(ctx),
        streams=split_given_names(streams),
        paused=paused,
    )
    # configs and streams offline, then the connection checks (unless skipped), then stored
    pipeline, results = backend.create(request, skip_check=skip_check)
    if cli_ctx.json_output:
        print_json(pipeline_json(pipeline))
        return
    console = stdout_console()
    for result in results:
        console.print(check_line(result))
    console.print(pipeline_table(pipeline))
    console.print(created_line(pipeline))


@pipelines_group.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted pipelines.")
@json_option
@pass_cli
def list_command(cli_ctx: CliContext, include_deleted: bool) -> None:
    """List pipelines (deleted ones only with --all).

    \b
    Example:
      sync-platform pipelines list --json
    """
    pipelines = cli_ctx.pipelines().list_pipelines(include_deleted=include_deleted)
    if cli_ctx.json_output:
        print_json([pipeline_json(pipeline) for pipeline in pipelines])
    elif not pipelines:
        stdout_console().print("No pipelines yet. Create one with `sync-platform pipelines create`.")
    else:
        stdout_console().print(pipelines_table(pipelines))


@pipelines_group.command("get")
@click.argument("pipeline_id")
@json_option
@pass_cli
def get_command(cli_ctx: CliContext, pipeline_id: str) -> None:
    """Show one pipeline: status, masked configs, checkpoints, webhook backlog.

    \b
    Example:
      sync-platform pipelines get shop
    """
    pipeline, pending_events = cli_ctx.pipelines().get(pipeline_id)
    _print_pipeline(cli_ctx, pipeline, pending_events=pending_events)


@pipelines_group.command("update", cls=ConnectorFlagsCommand, epilog=SHORTHAND_HELP)
@click.argument("pipeline_id")
@file_option
@click.option("--source", "source_type", metavar="CONNECTOR", help="Switch the source to another connector.")
@click.option(
    "--destination", "destination_type", metavar="CONNECTOR", help="Switch the destination connector."
)
@click.option("--streams", help="Comma-separated streams to sync from now on.")
@click.option("--all-streams", is_flag=True, help="Sync every stream the source offers.")
@expected_version_option
@json_option
@pass_cli
@click.pass_context
def update_command(
    ctx: click.Context,
    cli_ctx: CliContext,
    pipeline_id: str,
    file_: str | None,
    source_type: str | None,
    destination_type: str | None,
    streams: str | None,
    all_streams: bool,
    expected_version: int | None,
) -> None:
    """Change a pipeline's configs or streams (fields not given are kept; secrets stay as stored).

    \b
    Example:
      sync-platform pipelines update shop --streams customer,invoice --source.api-key-env NEW_KEY
    """
    if streams is not None and all_streams:
        raise click.UsageError("Give --streams or --all-streams, not both.")
    backend = cli_ctx.pipelines()
    current, _pending = backend.get(pipeline_id)
    change = update_request(
        current,
        load_document(file_, option="--file"),
        configs=backend.configs,
        connector_types={"source": source_type, "destination": destination_type},
        flags=connector_flags(ctx),
        streams=split_given_names(streams),
        all_streams=all_streams,
    )
    pipeline = backend.update(pipeline_id, change, expected_version=expected_version)
    _print_pipeline(cli_ctx, pipeline)


def _lifecycle_command(name: str, done: str, summary: str, example: str) -> None:
    @pipelines_group.command(name, help=f"{summary}\n\n\b\nExample:\n  {example}")
    @click.argument("pipeline_id")
    @expected_version_option
    @json_option
    @pass_cli
    def command(cli_ctx: CliContext, pipeline_id: str, expected_version: int | None) -> None:
        desired = {"pause": DesiredStatus.PAUSED, "resume": DesiredStatus.ACTIVE}[name]
        pipeline = cli_ctx.pipelines().set_desired(pipeline_id, desired, expected_version=expected_version)
        if cli_ctx.json_output:
            print_json(pipeline_json(pipeline))
        else:
            stdout_console().print(lifecycle_line(pipeline, done))


_lifecycle_command(
    "pause",
    "paused",
    "Pause a pipeline: no new runs; webhooks are still stored and applied on resume.",
    "sync-platform pipelines pause shop",
)
_lifecycle_command(
    "resume",
    "resumed",
    "Resume a paused (or failed) pipeline where it left off.",
    "sync-platform pipelines resume shop",
)


@pipelines_group.command("delete")
@click.argument("pipeline_id")
@expected_version_option
@click.option(
    "--force",
    is_flag=True,
    help="Forget the pipeline now, without waiting for teardown (for one whose teardown cannot run).",
)
@json_option
@pass_cli
def delete_command(cli_ctx: CliContext, pipeline_id: str, expected_version: int | None, force: bool) -> None:
    """Delete a pipeline: the platform tears down what it set up; deleted is final.

    Deleting again a pipeline whose teardown failed tries the teardown again. With --force the
    pipeline, its checkpoints and its inbox are forgotten at once (Dagster drops its partition on
    the next tick), and what teardown did not remove is listed so you can remove it by hand.

    
    Examples:
      sync-platform pipelines delete shop
      sync-platform pipelines delete shop --force
    """
    backend = cli_ctx.pipelines()
    if not force:
        pipeline = backend.set_desired(pipeline_id, DesiredStatus.DELETED, expected_version=expected_version)
        if cli_ctx.json_output:
            print_json(pipeline_json(pipeline))
        else:
            stdout_console().print(lifecycle_line(pipeline, "deleted"))
        return
    left = backend.purge(pipeline_id)
    if cli_ctx.json_output:
        print_json({"id": pipeline_id, "purged": True, "may_be_left_behind": left})
        return
    console = stdout_console()
    console.print(f"Pipeline {pipeline_id} is forgotten (with its checkpoints and webhook inbox).")
    for item in left:
        console.print(f"  may be left behind: {item}")


@pipelines_group.command("check")
@click.argument("pipeline_id")
@click.option("--only", type=click.Choice(["source", "destination"]), help="Check one side only.")
@json_option
@pass_cli
def check_command(
    cli_ctx: CliContext, pipeline_id: str, only: Literal["source", "destination"] | None
) -> None:
    """Check that the pipeline's connectors can reach their systems (exit 1 if one cannot).

    \b
    Example:
      sync-platform pipelines check shop
    """
    results = cli_ctx.pipelines().check(pipeline_id, only=only)
    if cli_ctx.json_output:
        print_json([result.to_json() for result in results])
    else:
        console = stdout_console()
        for result in results:
            console.print(check_line(result))
    if any(not result.succeeded for result in results):
        raise click.exceptions.Exit(EXIT_FAILED)
