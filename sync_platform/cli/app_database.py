"""Finds the app database for a CLI command, and the key that encrypts pipeline secrets in it.

Where the pipelines live, first match wins: ``--database-url``, ``SYNC_PLATFORM_DATABASE_URL``,
``DATABASE_URL``, else an embedded PostgreSQL under ``platform_home()`` (``$SYNC_PLATFORM_HOME``
or ``./.sync_platform``) with a database named ``sync_platform``, started for the command and
stopped after it (shared with other running commands; the last one out stops it).

The secret key is ``SYNC_PLATFORM_SECRET_KEY``. Only with the embedded database, and only when that
variable is unset, the CLI keeps a generated key in ``<home>/secret.key`` (mode 0600, beside the
data it protects), so a local user can store a plaintext API key without any setup. With a remote
database no key is ever invented: a key that exists only on one laptop would make the secrets
unreadable by the platform's other processes.
"""

from __future__ import annotations

import logging
import os
from collections import ChainMap
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet

from sync_platform.embedded_postgres import (
    DATABASE_URL_ENV,
    embedded_postgres,
    ensure_database,
    platform_home,
)
from sync_platform.pipelines import SECRET_KEY_ENV

logger = logging.getLogger(__name__)

APP_DATABASE_URL_ENV = "SYNC_PLATFORM_DATABASE_URL"
APP_DATABASE_SCHEMA_ENV = "SYNC_PLATFORM_DATABASE_SCHEMA"
EMBEDDED_DATABASE_NAME = "sync_platform"
SECRET_KEY_FILE = "secret.key"


@dataclass(frozen=True)
class AppDatabase:
    """A libpq URL for the app database, and whether it is the embedded server."""

    url: str
    embedded: bool


@contextmanager
def open_app_database(url: str | None, environ: Mapping[str, str]) -> Iterator[AppDatabase]:
    """Yield the app database: ``url`` (the flag or its env var), ``DATABASE_URL``, or embedded."""
    if url:
        yield AppDatabase(url, embedded=False)
        return
    if shared := environ.get(DATABASE_URL_ENV):
        yield AppDatabase(shared, embedded=False)
        return
    with embedded_postgres(environ=environ) as server_url:
        yield AppDatabase(ensure_database(server_url, EMBEDDED_DATABASE_NAME), embedded=True)


def local_secret_key(home: Path) -> str:
    """The key in ``home/secret.key``, created (0600, never overwritten) when it does not exist."""
    path = home / SECRET_KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another command created it first: use theirs
            pass
        else:
            with os.fdopen(descriptor, "wb") as file:
                file.write(key + b"\n")
            logger.warning(
                "Generated the key that encrypts pipeline secrets in the embedded database: %s. Keep it "
                "with the data directory; set %s to use your own key instead.",
                path,
                SECRET_KEY_ENV,
            )
    return path.read_text().strip()


def secrets_environ(database: AppDatabase, environ: Mapping[str, str]) -> Mapping[str, str]:
    """The environment the store reads secrets from: ``environ``, plus the local key if it applies."""
    if environ.get(SECRET_KEY_ENV, "").strip() or not database.embedded:
        return environ
    return ChainMap({SECRET_KEY_ENV: local_secret_key(platform_home(environ))}, dict(environ))
