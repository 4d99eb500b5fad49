"""Where the demo pipeline writes, per destination, and how the demo reads its changes back from there.

``postgres`` writes into the stack's ``warehouse`` database (a schema per demo pipeline);
``google_sheets`` writes into a spreadsheet on the local Sheets API, created by setup, as the
service account the stack generated. Secrets stay references to the stack's environment
(``{"env": ...}``), so the pipeline row holds no key and nothing prints one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import psycopg
from psycopg import sql

from sync_platform.cli.local_stack import SHEETS_SERVICE_ACCOUNT_ENV, WAREHOUSE_URL_ENV, LocalStack

DemoDestination = Literal["postgres", "google_sheets"]
DEMO_DESTINATIONS: tuple[DemoDestination, ...] = ("postgres", "google_sheets")
DEMO_SCHEMA = "stripe"
LABELS: dict[DemoDestination, str] = {"postgres": "PostgreSQL", "google_sheets": "Google Sheets"}


def destination_config(destination: DemoDestination, stack: LocalStack, pipeline_id: str) -> dict[str, Any]:
    """The demo pipeline's ``destination`` (connector type plus its config)."""
    match destination:
        case "postgres":
            config: dict[str, Any] = {
                "url": {"env": WAREHOUSE_URL_ENV},
                "schema": f"{DEMO_SCHEMA}_{pipeline_id}",
            }
        case "google_sheets":
            if stack.sheets_base_url is None:
                raise RuntimeError("The local stack was started without the Sheets API (sheets=True).")
            config = {
                "service_account_json": {"env": SHEETS_SERVICE_ACCOUNT_ENV},
                "api_base_url": stack.sheets_base_url,
                "spreadsheet_title": f"Stripe demo {pipeline_id}",
            }
    return {"type": destination, destination: config}


def where(destination: DemoDestination, stack: LocalStack, pipeline_id: str) -> str:
    """Where the pipeline's data is, for people: a schema, or a spreadsheet on the local Sheets API."""
    match destination:
        case "postgres":
            return f"schema {DEMO_SCHEMA}_{pipeline_id} of the `warehouse` database"
        case "google_sheets":
            config = stack.store.get(pipeline_id).destination.config
            return f"spreadsheet {config.get('spreadsheet_title')!r} ({config.get('spreadsheet_id')})"


def read_names(
    destination: DemoDestination, stack: LocalStack, pipeline_id: str, stream: str, ids: Sequence[str]
) -> dict[str, str | None]:
    """The ``name`` the destination holds for each object id (None when the row is gone)."""
    match destination:
        case "postgres":
            return _postgres_names(stack, pipeline_id, stream, ids)
        case "google_sheets":
            return _sheets_names(stack, pipeline_id, stream, ids)


def _postgres_names(
    stack: LocalStack, pipeline_id: str, stream: str, ids: Sequence[str]
) -> dict[str, str | None]:
    query = sql.SQL("SELECT id, _raw_data->>'name' FROM {}.{} WHERE id = ANY(%s)").format(
        sql.Identifier(f"{DEMO_SCHEMA}_{pipeline_id}"), sql.Identifier(stream)
    )
    with psycopg.connect(stack.warehouse_url) as connection:
        found = {str(row[0]): row[1] for row in connection.execute(query, (list(ids),)).fetchall()}
    return {object_id: (str(found[object_id]) if object_id in found else None) for object_id in ids}


def _sheets_names(
    stack: LocalStack, pipeline_id: str, stream: str, ids: Sequence[str]
) -> dict[str, str | None]:
    """Read through the destination itself (gspread, as the pipeline's service account)."""
    from sync_platform.destinations.google_sheets import tab_rows

    config = stack.store.resolve_secrets(stack.store.get(pipeline_id)).destination.config
    found = {str(row.get("id")): row.get("name") for row in tab_rows(config, stream)}
    return {object_id: (str(found[object_id]) if object_id in found else None) for object_id in ids}
