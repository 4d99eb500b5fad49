"""A PostgreSQL to talk to without installing one: ``DATABASE_URL`` if set, else an embedded server.

The embedded server comes from the ``pgserver`` wheel (real PostgreSQL binaries, no root or system
packages needed) and keeps its data under a directory, so the demo, the dev stack and later runs
all see the same databases. It listens on a Unix socket only, never on a network port.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "DATABASE_URL"
HOME_ENV = "SYNC_PLATFORM_HOME"


def platform_home(environ: Mapping[str, str] | None = None) -> Path:
    """Where local state lives (embedded Postgres data, Dagster home): ``$SYNC_PLATFORM_HOME`` or
    ``./.sync_platform``."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(HOME_ENV) or Path.cwd() / ".sync_platform").expanduser().resolve()


@contextmanager
def embedded_postgres(
    data_dir: Path | None = None, *, delete_on_exit: bool = False, environ: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Yield a PostgreSQL URL: ``DATABASE_URL`` when set, otherwise an embedded server's.

    The embedded server stops when the context exits (and its data is deleted if
    ``delete_on_exit``); with ``DATABASE_URL`` nothing is started or stopped.
    """
    environ = os.environ if environ is None else environ
    if url := environ.get(DATABASE_URL_ENV):
        yield url
        return
    with warnings.catch_warnings():  # pgserver's import warns about XDG_RUNTIME_DIR on headless hosts
        warnings.simplefilter("ignore")
        import pgserver

    data_dir = (data_dir or platform_home(environ) / "pgdata").expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    logger.info("embedded PostgreSQL running with data in %s", data_dir)
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_scheme(url: str, scheme: str) -> str:
    """The URL with another scheme, e.g. ``postgresql+psycopg2`` for SQLAlchemy-based clients."""
    return urlunsplit(urlsplit(url)._replace(scheme=scheme))


def with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


def ensure_database(url: str, database: str) -> str:
    """Create ``database`` on the server of ``url`` if it does not exist; return its URL."""
    with psycopg.connect(url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return with_database(url, database)
