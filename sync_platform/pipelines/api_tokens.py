"""Bearer tokens for the HTTP API and the console: created once, stored hashed, listed, revoked.

A token is ``spt_`` plus 256 random bits. It is shown once, when it is created; the app database
keeps only its SHA-256 (a fast hash is enough for a secret that long: there is no dictionary to
try) and a short prefix so a person can tell tokens apart in a list. Verifying a request is one
indexed lookup of the hash. Each token has a scope: ``read`` may look at pipelines, runs and the
catalog; ``admin`` may also create, change, run and delete them.

A revoked token stays in the table (it shows in ``tokens list --all``, and a request bearing it
is told it was revoked rather than unknown), and its name becomes free for a new token.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from psycopg import errors as pg_errors
from psycopg import sql

from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.pipelines.store import PipelineStore
from sync_platform.pipelines.transaction import StoreTransaction

logger = logging.getLogger(__name__)

TOKEN_PREFIX = "spt_"
SHOWN_PREFIX_CHARS = 10  # "spt_" and 6 random characters: enough to tell tokens apart, useless to guess
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per token, so verifying is a read, not a write."""

_COLUMNS = "id, name, scope, prefix, created_at, last_used_at, revoked_at"


class TokenScope(StrEnum):
    """What a token may do: ``read`` looks, ``admin`` also changes and runs pipelines."""

    READ = "read"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiToken:
    """A token as stored (never the secret itself)."""

    id: str
    name: str
    scope: TokenScope
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    @property
    def can_write(self) -> bool:
        return self.active and self.scope is TokenScope.ADMIN

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scope": self.scope.value,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


@dataclass(frozen=True)
class IssuedToken:
    """A token just created: ``secret`` is the only copy there will ever be (``repr`` hides it)."""

    token: ApiToken
    secret: str = field(repr=False)


class TokenNotFoundError(SyncPlatformError, LookupError):
    """No active token has this id or name."""

    http_status = 404

    def __init__(self, ref: str) -> None:
        self.ref = ref
        super().__init__(
            f"No active API token with id or name {ref!r}. List them with `sync-platform tokens list`."
        )


class TokenExistsError(SyncPlatformError, ValueError):
    """An active token already has this name (names identify tokens in lists and revocations)."""

    http_status = 409

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"An active API token is already named {name!r}. Choose another name, or revoke that one "
            f"first (`sync-platform tokens revoke {name}`)."
        )


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(row: dict[str, Any]) -> ApiToken:
    return ApiToken(
        id=row["id"],
        name=row["name"],
        scope=TokenScope(row["scope"]),
        prefix=row["prefix"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        revoked_at=row["revoked_at"],
    )


class ApiTokens:
    """The API tokens in the app database of ``store`` (the table comes with its migrations)."""

    def __init__(self, store: PipelineStore) -> None:
        self.store = store
        self.table = store.tables.api_tokens

    def create(self, name: str, scope: TokenScope = TokenScope.ADMIN) -> IssuedToken:
        """A new token named ``name``; its secret is in the result and nowhere else."""
        name = name.strip()
        if not name or len(name) > 100:
            raise ConfigError("A token name must be 1 to 100 characters.", field="name")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        token_id = f"tok_{secrets.token_hex(6)}"

        def insert(tx: StoreTransaction) -> dict[str, Any]:
            query = sql.SQL(
                "INSERT INTO {} (id, name, scope, token_hash, prefix) VALUES (%s, %s, %s, %s, %s) "
                "RETURNING " + _COLUMNS
            ).format(self.table)
            row = tx.connection.execute(
                query, (token_id, name, scope.value, hash_token(secret), secret[:SHOWN_PREFIX_CHARS])
            ).fetchone()
            assert row is not None  # INSERT … RETURNING always returns the row
            return dict(row)

        try:
            row = self.store.atomically(insert)
        except pg_errors.UniqueViolation:
            raise TokenExistsError(name) from None
        logger.info("created API token %s (%s)", token_id, scope.value, extra={"token_id": token_id})
        return IssuedToken(_token(row), secret)

    def list(self, *, include_revoked: bool = False) -> list[ApiToken]:
        where = sql.SQL("") if include_revoked else sql.SQL(" WHERE revoked_at IS NULL")
        query = sql.SQL("SELECT " + _COLUMNS + " FROM {}").format(self.table) + where
        query += sql.SQL(" ORDER BY created_at, id")
        rows = self.store.atomically(lambda tx: tx.connection.execute(query).fetchall())
        return [_token(dict(row)) for row in rows]

    def revoke(self, ref: str) -> ApiToken:
        """Revoke the active token whose id or name is ``ref``; requests bearing it fail from now on."""
        query = sql.SQL(
            "UPDATE {} SET revoked_at = now() WHERE (id = %s OR name = %s) AND revoked_at IS NULL "
            "RETURNING " + _COLUMNS
        ).format(self.table)
        rows = self.store.atomically(lambda tx: tx.connection.execute(query, (ref, ref)).fetchall())
        if not rows:
            raise TokenNotFoundError(ref)
        logger.info("revoked API token %s", rows[0]["id"], extra={"token_id": rows[0]["id"]})
        return _token(dict(rows[0]))

    def verify(self, secret: str) -> ApiToken | None:
        """The token ``secret`` belongs to (revoked ones included: see ``active``), or None."""
        if not secret.startswith(TOKEN_PREFIX):
            return None
        digest = hash_token(secret)

        def look_up(tx: StoreTransaction) -> dict[str, Any] | None:
            select = sql.SQL(
                "SELECT " + _COLUMNS + ", now() AS database_now FROM {} WHERE token_hash = %s"
            ).format(self.table)
            row = tx.connection.execute(select, (digest,)).fetchone()
            if row is None or row["revoked_at"] is not None:
                return None if row is None else dict(row)
            used = row["last_used_at"]  # compared with the database's clock, which writes it
            if used is None or row["database_now"] - used >= LAST_USED_RESOLUTION:
                touch = sql.SQL("UPDATE {} SET last_used_at = now() WHERE id = %s").format(self.table)
                tx.connection.execute(touch, (row["id"],))
            return dict(row)

        row = self.store.atomically(look_up)
        return None if row is None else _token(row)
