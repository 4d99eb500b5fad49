"""The embedded PostgreSQL helper (shared by processes, stopped by the last one out) and the ``pg``
fixture built on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import psycopg
import pytest

from sync_platform.embedded_postgres import (
    DATABASE_URL_ENV,
    HANDLE_PIDS_FILE,
    HANDLE_STARTS_FILE,
    HOME_ENV,
    embedded_postgres,
    ensure_database,
    live_users,
    with_database,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase


def test_database_url_wins_and_nothing_is_started(tmp_path: Path) -> None:
    with embedded_postgres(tmp_path / "pg", environ={"DATABASE_URL": "postgresql://x@db/y"}) as url:
        assert url == "postgresql://x@db/y"
    assert not (tmp_path / "pg").exists()


def test_the_pg_fixture_is_a_real_server(pg: PgTestDatabase) -> None:
    with pg.connect() as connection:
        connection.execute(f'CREATE SCHEMA "{pg.schema}"')
        connection.execute(f'CREATE TABLE "{pg.schema}".t (x int)')
        connection.execute(f'INSERT INTO "{pg.schema}".t VALUES (1), (2)')
        assert connection.execute(f'SELECT sum(x) FROM "{pg.schema}".t').fetchone() == (3,)


def test_ensure_database_creates_once_and_returns_its_url(postgres_url: str) -> None:
    url = ensure_database(postgres_url, "sp_test_extra")
    assert url == with_database(postgres_url, "sp_test_extra")
    assert ensure_database(postgres_url, "sp_test_extra") == url
    with psycopg.connect(url) as connection:
        assert connection.execute("SELECT current_database()").fetchone() == ("sp_test_extra",)


# --- the last one out stops the server, even after a user was killed -----------------------------

HOLDER = """
import os, sys
from sync_platform.cli.app_database import open_app_database
with open_app_database(None, os.environ) as database:
    print("ready", flush=True)
    sys.stdin.read()  # hold the server until killed
"""


def embedded_environ(home: Path) -> dict[str, str]:
    """This process's environment without any database setting, so the CLI uses the embedded server
    under ``home`` (never the test session's server or a ``DATABASE_URL`` from CI)."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if name != DATABASE_URL_ENV and not name.startswith("SYNC_PLATFORM_")
    }
    environ[HOME_ENV] = str(home)
    return environ


def server_processes(data_dir: Path) -> list[psutil.Process]:
    """Running postgres servers started on ``data_dir`` (the postmaster's command line names it)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if any(str(data_dir) in argument for argument in cmdline) and "postgres" in Path(cmdline[0]).name:
            found.append(process)
    return found


def listed_pids(data_dir: Path) -> list[int]:
    path = data_dir / HANDLE_PIDS_FILE
    return json.loads(path.read_text()) if path.exists() else []


def exited_child() -> int:
    """The pid of a child that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


@contextmanager
def zombie_child() -> Iterator[int]:
    """The pid of a child that was killed but not reaped yet (its parent has not waited for it)."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, left unreaped
        yield child.pid
    finally:
        child.wait()


def test_pids_of_exited_processes_are_dropped_from_the_users_of_a_server(tmp_path: Path) -> None:
    with zombie_child() as zombie:
        (tmp_path / HANDLE_PIDS_FILE).write_text(json.dumps([exited_child(), zombie, os.getpid()]))
        assert live_users(tmp_path) == [os.getpid()]

    assert listed_pids(tmp_path) == [os.getpid()]


def test_a_pid_reused_by_another_process_is_dropped_when_its_start_time_was_recorded(tmp_path: Path) -> None:
    """pgserver lists bare pids; the start time recorded beside them tells a reused pid apart."""
    with subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    ) as other:
        try:
            started = psutil.Process(other.pid).create_time()
            (tmp_path / HANDLE_PIDS_FILE).write_text(json.dumps([other.pid, os.getpid()]))
            # This process is listed with the start time of an earlier process that had its pid.
            recorded = {str(other.pid): started, str(os.getpid()): psutil.Process().create_time() - 3600}
            (tmp_path / HANDLE_STARTS_FILE).write_text(json.dumps(recorded))

            assert live_users(tmp_path) == [other.pid]
            assert json.loads((tmp_path / HANDLE_STARTS_FILE).read_text()) == {str(other.pid): started}
        finally:
            other.communicate(b"")


def test_a_listed_pid_without_a_recorded_start_is_kept_while_its_process_runs(tmp_path: Path) -> None:
    (tmp_path / HANDLE_PIDS_FILE).write_text(json.dumps([os.getpid()]))

    assert live_users(tmp_path) == [os.getpid()]
    assert not (tmp_path / HANDLE_STARTS_FILE).exists()


@pytest.mark.slow
def test_the_server_stops_when_the_last_command_exits_even_after_an_earlier_one_was_killed(
    tmp_path: Path,
) -> None:
    """A SIGKILLed command never unregisters; the next command to exit must still stop the server."""
    home = tmp_path / "home"
    data_dir = home / "pgdata"
    environ = embedded_environ(home)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER], env=environ, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready", "the holder could not open the embedded database"
        [postmaster] = server_processes(data_dir)
        assert listed_pids(data_dir) == [holder.pid]

        holder.kill()
        holder.wait()
        assert postmaster.is_running()  # what the kill leaves behind: a server nobody will stop
        assert listed_pids(data_dir) == [holder.pid]

        command = [str(Path(sys.executable).with_name("sync-platform")), "pipelines", "list"]
        listed = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr

        # pg_ctl stop waited for the server to remove postmaster.pid; its process exits right after.
        assert not (data_dir / "postmaster.pid").exists()
        _, still_running = psutil.wait_procs([postmaster], timeout=10)
        assert not still_running
        assert server_processes(data_dir) == []
        assert listed_pids(data_dir) == []
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        for leaked in server_processes(data_dir):  # never leave a server behind, even on failure
            leaked.kill()


@pytest.mark.slow
def test_an_inner_block_on_the_same_data_directory_does_not_stop_the_server_of_an_outer_one(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "pg"
    try:
        with embedded_postgres(data_dir, environ={}) as outer:
            with embedded_postgres(data_dir, environ={}) as inner:
                assert inner == outer
            with psycopg.connect(outer) as connection:
                assert connection.execute("SELECT 1").fetchone() == (1,)
            assert live_users(data_dir) == [os.getpid()]
        assert server_processes(data_dir) == []
        assert listed_pids(data_dir) == []
    finally:
        for leaked in server_processes(data_dir):
            leaked.kill()
