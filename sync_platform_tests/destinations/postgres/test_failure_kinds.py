"""Every failure says its kind, from the database error's type and SQLSTATE class, never its text.

The pipeline runner parks a pipeline on a kind retrying cannot fix (auth, permission, config,
invalid_request, not_found) and retries the others, so each kind is checked where the runner reads
it: ``check``'s failed status, a ``stream_status: error``, or the exception setup and teardown raise.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from sync_platform.destinations.postgres import PostgresDestination
from sync_platform.destinations.postgres.errors import (
    PostgresDestinationError,
    ProtectedSchemaError,
    postgres_failure_kind,
    sqlstate_kind,
)
from sync_platform.errors import FailureKind, failure_kind_of
from sync_platform.protocol import ConnectionStatus, ConnectionStatusPayload, Message, stream_state
from sync_platform_tests.destinations.postgres.conftest import (
    catalog_of,
    collect,
    errors,
    select,
    setup,
    state_streams,
    stripe_stream,
    teardown,
    version,
    write,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

SECRET = "hunter2-Very-Secret"
CATALOG = catalog_of(stripe_stream())


def check(config: dict[str, Any]) -> ConnectionStatusPayload:
    return asyncio.run(PostgresDestination().check(config))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def unprivileged_role(pg: PgTestDatabase) -> Iterator[str]:
    """A role that may log in (the embedded server trusts it) but create nothing."""
    role = f"np_{uuid.uuid4().hex[:8]}"
    with pg.connect() as connection:
        connection.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        with pg.connect() as connection:
            connection.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.mark.parametrize(
    ("case", "kind"),
    [
        ("wrong password", FailureKind.AUTH),
        ("no password", FailureKind.AUTH),
        ("refused", FailureKind.TRANSIENT),
        ("closed port", FailureKind.TRANSIENT),
        ("invalid config", FailureKind.CONFIG),
    ],
)
def test_check_reports_the_kind_of_a_failed_connection(
    pg: PgTestDatabase, password_role: str, case: str, kind: FailureKind
) -> None:
    config = {
        "wrong password": {"url": pg.url, "user": password_role, "password": SECRET},
        "no password": {"url": pg.url, "user": password_role},
        "refused": {"host": "127.0.0.1", "port": 1, "user": "app", "password": SECRET, "database": "app"},
        "closed port": {"host": "127.0.0.1", "port": _closed_port(), "password": SECRET, "database": "x"},
        "invalid config": {"host": "db", "password": [SECRET]},
    }[case]
    status = check(config)
    assert (status.status, status.failure_kind) == (ConnectionStatus.FAILED, kind)
    assert SECRET not in (status.message or "")


def test_check_succeeds_with_the_right_password(pg: PgTestDatabase, password_role: str) -> None:
    status = check({"url": pg.url, "user": password_role, "password": "right-password"})
    assert (status.status, status.failure_kind) == (ConnectionStatus.SUCCEEDED, None)


def test_setup_without_the_privilege_to_create_the_schema_raises_permission(
    pg: PgTestDatabase, config: dict[str, Any], unprivileged_role: str
) -> None:
    with pytest.raises(PostgresDestinationError) as caught:
        setup({**config, "user": unprivileged_role}, CATALOG)
    assert caught.value.failure_kind is FailureKind.PERMISSION
    assert isinstance(caught.value.__cause__, psycopg.errors.InsufficientPrivilege)  # the original, kept
    assert failure_kind_of(caught.value) is FailureKind.PERMISSION


def test_setup_against_an_unreachable_server_raises_transient_without_the_password() -> None:
    unreachable = {"host": "127.0.0.1", "port": 1, "user": "app", "password": SECRET, "database": "app"}
    with pytest.raises(PostgresDestinationError) as caught:
        setup(unreachable, CATALOG)
    assert failure_kind_of(caught.value) is FailureKind.TRANSIENT
    assert SECRET not in str(caught.value)
    assert isinstance(caught.value.__cause__, psycopg.OperationalError)  # kept, its text masked too
    assert "127.0.0.1" in str(caught.value.__cause__)
    assert SECRET not in str(caught.value.__cause__)


def test_setup_with_a_wrong_password_raises_auth(pg: PgTestDatabase, password_role: str) -> None:
    with pytest.raises(PostgresDestinationError) as caught:
        setup({"url": pg.url, "user": password_role, "password": SECRET, "schema": pg.schema}, CATALOG)
    assert failure_kind_of(caught.value) is FailureKind.AUTH
    assert SECRET not in str(caught.value)


def test_teardown_blocked_by_a_dependent_view_is_invalid_request(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    setup(config, CATALOG)
    with pg.connect() as connection:
        connection.execute(
            sql.SQL("CREATE VIEW {} AS SELECT id FROM {}").format(
                sql.Identifier(pg.schema, "ids"), sql.Identifier(pg.schema, "charge")
            )
        )
    with pytest.raises(PostgresDestinationError) as caught:
        teardown(config)
    assert caught.value.failure_kind is FailureKind.INVALID_REQUEST


def test_a_system_schema_is_a_config_error_although_it_is_a_permission_error_in_python(
    config: dict[str, Any],
) -> None:
    with pytest.raises(ProtectedSchemaError) as caught:
        write({**config, "schema": "pg_catalog"}, CATALOG, [version("charge", "ch_1", 1)])
    assert failure_kind_of(caught.value) is FailureKind.CONFIG  # not transient, as an OSError would be


def _stream_error_kind(output: list[Message]) -> FailureKind | None:
    [error] = errors(output)
    return error.failure_kind


def test_a_value_the_database_refuses_fails_its_stream_as_invalid_request(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    setup(config, CATALOG)
    with pg.connect() as connection:  # the user's own rule on the table: a CHECK the record breaks
        connection.execute(
            sql.SQL("ALTER TABLE {} ADD CONSTRAINT positive CHECK (amount >= 0)").format(
                sql.Identifier(pg.schema, "charge")
            )
        )
    output = write(config, CATALOG, [version("charge", "ch_1", 1, amount=-5), stream_state("charge", 1)])
    assert _stream_error_kind(output) is FailureKind.INVALID_REQUEST
    assert "positive" in errors(output)[0].error
    assert state_streams(output) == []  # the checkpoint did not move past what was not written


def test_a_record_without_its_key_fails_its_stream_as_invalid_request(config: dict[str, Any]) -> None:
    keyless = version("charge", "ch_1", 1)
    del keyless.record.data["id"]
    assert _stream_error_kind(write(config, CATALOG, [keyless])) is FailureKind.INVALID_REQUEST


def test_a_stream_outside_the_catalog_fails_as_config(config: dict[str, Any]) -> None:
    output = write(config, CATALOG, [version("refund", "re_1", 1)])
    assert _stream_error_kind(output) is FailureKind.CONFIG


def test_writing_without_the_privilege_to_create_tables_fails_the_stream_as_permission(
    config: dict[str, Any], unprivileged_role: str
) -> None:
    output = write({**config, "user": unprivileged_role}, CATALOG, [version("charge", "ch_1", 1)])
    assert _stream_error_kind(output) is FailureKind.PERMISSION


def test_writing_to_an_unreachable_server_fails_the_stream_as_transient() -> None:
    unreachable = {"host": "127.0.0.1", "port": 1, "user": "app", "password": SECRET, "database": "app"}
    output = write(unreachable, CATALOG, [version("charge", "ch_1", 1)])
    assert _stream_error_kind(output) is FailureKind.TRANSIENT
    assert SECRET not in errors(output)[0].error


def test_a_connection_lost_mid_write_fails_the_stream_as_transient(
    pg: PgTestDatabase, config: dict[str, Any]
) -> None:
    """The server ends the writer's session between two batches (an admin or a failover did)."""

    def rows() -> int:
        return len(select(pg, "charge", "id"))

    def terminate_writer() -> None:
        with pg.connect() as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND datname = current_database() AND position(%s in query) > 0",
                (pg.schema,),
            )

    async def messages() -> AsyncIterator[Message]:
        yield version("charge", "ch_1", 1)
        yield stream_state("charge", 1)
        deadline = time.monotonic() + 10
        while await asyncio.to_thread(rows) == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.to_thread(terminate_writer)
        yield version("charge", "ch_2", 1)
        yield stream_state("charge", 2)

    output = asyncio.run(collect({**config, "batch_size": 1}, CATALOG, messages()))
    assert _stream_error_kind(output) is FailureKind.TRANSIENT
    assert state_streams(output) == ["charge"]  # the first checkpoint, and not the second


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (psycopg.errors.InvalidPassword(), FailureKind.AUTH),
        (psycopg.errors.InvalidAuthorizationSpecification(), FailureKind.AUTH),
        (psycopg.errors.InsufficientPrivilege(), FailureKind.PERMISSION),
        (psycopg.errors.InvalidCatalogName(), FailureKind.NOT_FOUND),
        (psycopg.errors.InvalidSchemaName(), FailureKind.NOT_FOUND),
        (psycopg.errors.AdminShutdown(), FailureKind.TRANSIENT),
        (psycopg.errors.CannotConnectNow(), FailureKind.TRANSIENT),
        (psycopg.errors.SerializationFailure(), FailureKind.TRANSIENT),
        (psycopg.errors.DeadlockDetected(), FailureKind.TRANSIENT),
        (psycopg.errors.LockNotAvailable(), FailureKind.TRANSIENT),
        (psycopg.errors.DiskFull(), FailureKind.TRANSIENT),
        (psycopg.errors.ConnectionFailure(), FailureKind.TRANSIENT),
        (psycopg.errors.CheckViolation(), FailureKind.INVALID_REQUEST),
        (psycopg.errors.NumericValueOutOfRange(), FailureKind.INVALID_REQUEST),
        (psycopg.errors.ProgramLimitExceeded(), FailureKind.INVALID_REQUEST),
        (psycopg.errors.UndefinedColumn(), FailureKind.INTERNAL),
        (psycopg.errors.SyntaxError(), FailureKind.INTERNAL),
        (psycopg.OperationalError("the connection is lost"), FailureKind.TRANSIENT),
        (
            psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes"),
            FailureKind.INVALID_REQUEST,
        ),
        (psycopg.InterfaceError("misuse"), FailureKind.INTERNAL),
        (ConnectionResetError(), FailureKind.TRANSIENT),
        (ValueError(), FailureKind.INTERNAL),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, BaseException) else str(value),
)
def test_database_errors_are_kinded_by_type_and_sqlstate_class(
    error: BaseException, kind: FailureKind
) -> None:
    assert postgres_failure_kind(error) is kind


def test_an_unlisted_sqlstate_of_a_listed_class_takes_its_class_kind() -> None:
    assert sqlstate_kind("28XYZ") is FailureKind.AUTH
    assert sqlstate_kind("ZZ000") is FailureKind.INTERNAL
