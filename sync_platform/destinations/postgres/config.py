"""The PostgreSQL destination's config: where to connect, which schema, how many records per flush.

A connection is given either as a ``url`` (a libpq URI or ``key=value`` DSN) or as discrete fields;
discrete fields next to a ``url`` override its parts, so a password can live in its own secret field
while the URL stays shareable. Both ``url`` and ``password`` are ``SecretStr``: a DSN may embed a
password, so neither is ever echoed in a repr, an error or a log line.
"""

from __future__ import annotations

from typing import Any, Literal

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sync_platform.destinations.postgres.naming import MAX_IDENTIFIER_BYTES
from sync_platform.errors import ConfigError

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
APPLICATION_NAME = "sync_platform/destination-postgres"
DEFAULT_SCHEMA = "stripe"
DEFAULT_BATCH_SIZE = 1000


class PostgresDestinationConfig(BaseModel):
    """Connection, target schema and batching for the ``postgres`` destination."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    url: SecretStr | None = Field(
        default=None,
        description="libpq connection URI (postgresql://user:pass@host:5432/db) or key=value DSN.",
    )
    host: str | None = Field(default=None, description="Server host name, IP or Unix socket directory.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Server port (libpq default 5432).")
    database: str | None = Field(default=None, description="Database name.")
    user: str | None = Field(default=None, description="Role to connect as.")
    password: SecretStr | None = Field(default=None, description="Password of `user`.")
    sslmode: SslMode | None = Field(default=None, description="libpq sslmode; libpq's default when unset.")
    schema_name: str = Field(
        default=DEFAULT_SCHEMA,
        alias="schema",
        min_length=1,
        description="Schema that holds one table per stream; created by setup when missing.",
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        ge=1,
        le=100_000,
        description="Records buffered per stream before a flush (a state also flushes its stream).",
    )
    connect_timeout: int = Field(default=10, ge=1, le=600, description="Seconds to wait for a connection.")

    @field_validator("schema_name")
    @classmethod
    def _schema_fits(cls, value: str) -> str:
        if "\x00" in value or len(value.encode()) > MAX_IDENTIFIER_BYTES:
            raise ValueError(f"must be at most {MAX_IDENTIFIER_BYTES} bytes and contain no NUL character")
        return value

    def conninfo(self) -> str:
        """The libpq connection string, password included: hand it to psycopg, never print it."""
        base = self.url.get_secret_value() if self.url is not None else ""
        overrides: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.database,
            "user": self.user,
            "password": self.password.get_secret_value() if self.password is not None else None,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout,
            "application_name": APPLICATION_NAME,
        }
        return make_conninfo(base, **{k: v for k, v in overrides.items() if v is not None})

    def describe_target(self) -> str:
        """``user@host:port/dbname`` for messages: everything that helps, nothing secret."""
        try:
            parts = conninfo_to_dict(self.conninfo())
        except Exception:  # an unparsable URL: say so without quoting it
            return "(unparsable connection URL)"
        host = parts.get("host") or "localhost"
        port = parts.get("port") or "5432"
        user = parts.get("user") or "(default user)"
        return f"{user}@{host}:{port}/{parts.get('dbname') or '(default database)'}"


def parse_config(raw: dict[str, Any] | PostgresDestinationConfig) -> PostgresDestinationConfig:
    """Validate a config dict into the model, or raise ``ConfigError`` naming the field.

    pydantic's own message quotes the rejected input, which may be a password, so the message is
    rebuilt from the field path and rule only.
    """
    if isinstance(raw, PostgresDestinationConfig):
        config = raw
    else:
        try:
            config = PostgresDestinationConfig.model_validate(raw)
        except ValidationError as error:
            first = error.errors(include_input=False, include_url=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or None
            reason = str(first["msg"]).removeprefix("Value error, ")
            raise ConfigError(
                f"Invalid postgres destination config at {field!r}: {reason}.",
                field=field,
                connector="postgres",
            ) from None
    if config.url is None and config.host is None:
        raise ConfigError(
            "The postgres destination needs a server: set `url` (postgresql://user@host/db) or `host` "
            "(with `database`, `user` and `password` as needed).",
            field="url",
            connector="postgres",
        )
    try:
        config.conninfo()
    except Exception:
        raise ConfigError(
            "The postgres destination's `url` is not a valid libpq URI or key=value DSN "
            "(expected e.g. postgresql://user:password@host:5432/dbname).",
            field="url",
            connector="postgres",
        ) from None
    return config
