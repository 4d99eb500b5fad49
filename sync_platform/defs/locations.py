"""Where a stream's data is, as materialization metadata: the table or tab, and how to reach it.

Every materialization carries ``dagster/table_name`` (``schema.table`` for PostgreSQL,
``spreadsheet title / tab`` for Google Sheets) and a hint to open it that holds no secret: for
PostgreSQL the server and database and a ``psql`` command without the password (libpq asks for it
or reads ``~/.pgpass``), for Google Sheets the spreadsheet's URL.
"""

from __future__ import annotations

import logging
from typing import Any

import dagster as dg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from sync_platform.protocol import ConnectorConfig

logger = logging.getLogger(__name__)

GOOGLE_SHEETS_URL = "https://docs.google.com/spreadsheets/d/{}"


def location_metadata(destination: ConnectorConfig, stream: str) -> dict[str, Any]:
    """``dagster/table_name`` and a connection hint for ``stream`` (``{}`` if the type is unknown).

    ``destination`` has its secrets resolved: they are read here only to be left out.
    """
    try:
        match destination.type:
            case "postgres":
                return _postgres(destination.config, stream)
            case "google_sheets":
                return _google_sheets(destination.config, stream)
    except Exception as error:  # a hint is metadata; failing to build it must not fail the run
        logger.warning(
            "could not describe where %s is in the %s destination: %s", stream, destination.type, error
        )
    return {}


def _postgres(config: dict[str, Any], stream: str) -> dict[str, Any]:
    from sync_platform.destinations.postgres import parse_config, table_name

    parsed = parse_config(config)
    params = {k: v for k, v in conninfo_to_dict(parsed.conninfo()).items() if k != "password" and v}
    host = str(params.get("host") or "localhost")
    server = f"{host}:{params['port']}" if params.get("port") else host
    database = str(params.get("dbname") or params.get("user") or "")
    connect = make_conninfo(**{k: v for k, v in params.items() if k in ("host", "port", "dbname", "user")})
    table = f"{parsed.schema_name}.{table_name(stream)}"
    return {
        "dagster/table_name": table,
        "sync/database": f"{database} on {server}",
        "sync/connect": f'psql "{connect}"',
    }


def _google_sheets(config: dict[str, Any], stream: str) -> dict[str, Any]:
    from sync_platform.destinations.google_sheets import load_config

    parsed = load_config(dict(config))
    if not parsed.spreadsheet_id:
        return {}
    base = (parsed.api_base_url or "").rstrip("/")
    url = (
        f"{base}/spreadsheets/d/{parsed.spreadsheet_id}"
        if base
        else GOOGLE_SHEETS_URL.format(parsed.spreadsheet_id)
    )
    title = parsed.spreadsheet_title or parsed.spreadsheet_id
    return {
        "dagster/table_name": f"{title} / {stream}",
        "sync/spreadsheet": dg.MetadataValue.url(url),
        "sync/tab": stream,
    }
