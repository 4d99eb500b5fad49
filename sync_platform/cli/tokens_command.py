"""``sync-platform tokens …``: the API tokens of the HTTP service and the console.

A token is shown once, when it is created; the app database keeps only its hash. ``admin`` tokens
may change and run pipelines, ``read`` tokens only look. Tokens are managed on the platform's
machine (this command opens the app database), not over ``--remote``.
"""

from __future__ import annotations

import json

import click
from rich.table import Table

from sync_platform.cli.app import cli
from sync_platform.cli.context import CliContext, pass_cli
from sync_platform.cli.output import json_option, print_json, stdout_console
from sync_platform.pipelines.api_tokens import ApiToken, ApiTokens, TokenScope


@cli.group("tokens")
def tokens_group() -> None:
    """Create, list and revoke the API tokens of `sync-platform serve`."""


@tokens_group.command("create")
@click.option("--name", required=True, help="A name to recognise the token by (unique among active ones).")
@click.option(
    "--scope",
    type=click.Choice([scope.value for scope in TokenScope]),
    default=TokenScope.ADMIN.value,
    show_default=True,
    help="admin: create, change, run and delete pipelines; read: only look.",
)
@json_option
@pass_cli
def create_command(cli_ctx: CliContext, name: str, scope: str) -> None:
    """Create a token and print it once (only its hash is kept).

    \b
    Example:
      sync-platform tokens create --name laptop
      sync-platform tokens create --name dashboard --scope read
    """
    issued = ApiTokens(cli_ctx.store()).create(name, TokenScope(scope))
    if cli_ctx.json_output:
        click.echo(_token_json(issued.token, issued.secret))
        return
    click.echo(issued.secret)
    click.echo(
        f"Created {issued.token.scope.value} token {issued.token.name!r} ({issued.token.id}). It is shown "
        "only now: keep it somewhere safe. Send it in the Authorization header (as `Bearer <token>`), paste "
        "it in the console's sign-in, or export it as SYNC_PLATFORM_TOKEN for `sync-platform --remote URL`.",
        err=True,
    )


def _token_json(token: ApiToken, secret: str) -> str:
    return json.dumps({"token": secret, **token.to_json()}, indent=2)


@tokens_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@json_option
@pass_cli
def list_command(cli_ctx: CliContext, include_revoked: bool) -> None:
    """List tokens (never the tokens themselves: their name, scope and first characters)."""
    tokens = ApiTokens(cli_ctx.store()).list(include_revoked=include_revoked)
    if cli_ctx.json_output:
        print_json([token.to_json() for token in tokens])
        return
    if not tokens:
        stdout_console().print("No API tokens. Create one with `sync-platform tokens create --name NAME`.")
        return
    table = Table(title="API tokens", expand=False)
    for column in ("id", "name", "scope", "starts with", "created", "last used", "revoked"):
        table.add_column(column)
    for token in tokens:
        table.add_row(
            token.id,
            token.name,
            token.scope.value,
            f"{token.prefix}…",
            f"{token.created_at:%Y-%m-%d %H:%M}",
            f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
            f"{token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "",
        )
    stdout_console().print(table)


@tokens_group.command("revoke")
@click.argument("token")
@json_option
@pass_cli
def revoke_command(cli_ctx: CliContext, token: str) -> None:
    """Revoke a token by id or name: requests bearing it are refused from now on."""
    revoked = ApiTokens(cli_ctx.store()).revoke(token)
    if cli_ctx.json_output:
        print_json(revoked.to_json())
    else:
        stdout_console().print(f"Revoked token {revoked.name!r} ({revoked.id}).")
