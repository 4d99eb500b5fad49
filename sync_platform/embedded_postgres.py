"""A PostgreSQL to talk to without installing one: ``DATABASE_URL`` if set, else an embedded server.

The embedded server comes from the ``pgserver`` wheel (real PostgreSQL binaries, no root or system
packages needed) and keeps its data under a directory, so the demo, the dev stack and later runs
all see the same databases. It listens on a Unix socket only, never on a network port.

Processes share one server per data directory, and the last one out stops it. pgserver keeps the
pids of the processes using a server in ``<data dir>/.handle_pids.json`` and stops the server when
the process leaving is the only pid left. A process that dies without leaving (SIGKILL, SIGTERM, a
crash) stays in that list, so no later process would ever be the last one and the server would run
forever. Here every pid of a process that no longer exists is dropped from the list before a
process joins and, inside pgserver's own critical section, when it leaves. pgserver records bare
pids; so that a pid reused by an unrelated process does not keep the server alive, each process that
joins through this module also records its start time in ``<data dir>/.handle_starts.json``, and a
listed pid whose process started at another time is dropped too. (A pid listed by some other
pgserver user, without a start time, is trusted while a process with that pid exists.)
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "DATABASE_URL"
HOME_ENV = "SYNC_PLATFORM_HOME"
HANDLE_PIDS_FILE = ".handle_pids.json"
"""pgserver's list of the pids using the server in a data directory (a JSON list of ints)."""
HANDLE_STARTS_FILE = ".handle_starts.json"
"""Ours, beside it: ``{pid: start time}`` of the processes that joined through this module."""
_START_TIME_TOLERANCE = 1.0  # seconds; psutil derives start times from the boot time, which may drift


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

    The embedded server is shared: by the processes using the same data directory, and by nested
    ``with`` blocks in one process. It stops when the last of them exits (and its data is deleted
    if ``delete_on_exit``), also when an earlier user was killed before it could leave; with
    ``DATABASE_URL`` nothing is started or stopped.
    """
    environ = os.environ if environ is None else environ
    if url := environ.get(DATABASE_URL_ENV):
        yield url
        return
    pgserver = _import_pgserver()
    data_dir = (data_dir or platform_home(environ) / "pgdata").expanduser().resolve()
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    with _opened_lock:
        opened = _opened.get(data_dir)
        if opened is None:
            opened = _opened[data_dir] = _Opened(_join(pgserver, data_dir, delete_on_exit))
        opened.users += 1
    logger.info("embedded PostgreSQL running with data in %s", data_dir)
    try:
        yield opened.server.get_uri()
    finally:
        with _opened_lock:
            opened.users -= 1
            if opened.users == 0:
                del _opened[data_dir]
                _leave(pgserver, opened.server, data_dir)


def live_users(data_dir: Path) -> list[int]:
    """The pids of the processes using the embedded server in ``data_dir``, once the pids of
    processes that have exited are dropped from pgserver's list (as joining or leaving does)."""
    pgserver = _import_pgserver()
    with pgserver.PostgresServer._lock:
        return _Handles(data_dir.expanduser().resolve()).prune()


def _import_pgserver() -> Any:
    with warnings.catch_warnings():  # pgserver's import warns about XDG_RUNTIME_DIR on headless hosts
        warnings.simplefilter("ignore")
        import pgserver
    return pgserver


@dataclass
class _Opened:
    """This process's handle on one data directory's server, shared by nested ``with`` blocks."""

    server: Any  # pgserver.PostgresServer
    users: int = 0


# pgserver has one handle per data directory per process and unregisters the process on the first
# ``cleanup()``; counting the ``with`` blocks here keeps an inner block from stopping the server
# under an outer one (the first block's ``delete_on_exit`` applies).
_opened: dict[Path, _Opened] = {}
_opened_lock = threading.Lock()


def _join(pgserver: Any, data_dir: Path, delete_on_exit: bool) -> Any:
    """Start or reuse the server in ``data_dir``, registered as used by this process."""
    handles = _Handles(data_dir)
    with pgserver.PostgresServer._lock:  # pgserver's inter-process lock over its pid list
        handles.prune()  # before the data directory is first initialised, there is nothing to prune
    server = pgserver.get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    with pgserver.PostgresServer._lock:
        handles.record(os.getpid())
        # pgserver's cleanup reads the list through this object, inside its critical section: the
        # exited processes are dropped right where it decides whether this one is the last.
        server.global_process_id_list = handles.pid_list
    return server


def _leave(pgserver: Any, server: Any, data_dir: Path) -> None:
    """Unregister this process; stop the server if no other live process uses it."""
    try:
        server.cleanup()
    finally:
        # pgserver forgets the handle only when the server stops; a later block in this process
        # must register again (and start the server again if another process stopped it since).
        pgserver.PostgresServer._instances.pop(data_dir, None)


class _Handles:
    """The processes using the server in ``data_dir``: pgserver's pid list, without the dead.

    Every method runs under pgserver's inter-process lock.
    """

    def __init__(self, data_dir: Path) -> None:
        from pgserver.utils import DiskList  # imported by the caller already, so without its warning

        handles = self

        class LiveDiskList(DiskList):
            """pgserver's pid list, read without the processes that are gone."""

            def get(self) -> list[int]:
                recorded: list[int] = super().get()
                live = handles.live(recorded)
                if live != recorded:
                    gone = sorted(set(recorded) - set(live))
                    logger.info("embedded PostgreSQL in %s: dropped exited users %s", handles.data_dir, gone)
                    self.put(live)
                return live

        self.data_dir = data_dir
        self.pid_list = LiveDiskList(data_dir / HANDLE_PIDS_FILE)
        self.starts_path = data_dir / HANDLE_STARTS_FILE

    def prune(self) -> list[int]:
        """Drop the pids of processes that are gone; the pids left."""
        return self.pid_list.get()

    def live(self, pids: list[int]) -> list[int]:
        """``pids`` without the processes that are gone (or whose pid now names another process).

        Start times of pids no longer listed are forgotten.
        """
        starts = self._read_starts()
        live = [pid for pid in pids if _still_running(pid, starts.get(pid))]
        kept = {pid: started for pid, started in starts.items() if pid in live}
        if kept != starts:
            self._write_starts(kept)
        return live

    def record(self, pid: int) -> None:
        """Remember when ``pid`` (a process in pgserver's list) started."""
        started = _start_time(pid)
        if started is not None:
            self._write_starts({**self._read_starts(), pid: started})

    def _read_starts(self) -> dict[int, float]:
        try:
            raw = json.loads(self.starts_path.read_text())
            return {int(pid): float(started) for pid, started in raw.items()}
        except FileNotFoundError:
            return {}
        except (ValueError, TypeError, AttributeError):  # damaged: start times are only a refinement
            logger.warning("ignoring the unreadable %s", self.starts_path)
            return {}

    def _write_starts(self, starts: dict[int, float]) -> None:
        if not self.data_dir.is_dir():
            return
        temporary = self.starts_path.with_name(f"{self.starts_path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps({str(pid): started for pid, started in sorted(starts.items())}))
        temporary.replace(self.starts_path)


def _start_time(pid: int) -> float | None:
    import psutil  # here, not at the top: every command imports this module, few check processes

    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _still_running(pid: int, started: float | None) -> bool:
    """Whether the process that registered ``pid`` still runs: one with that pid exists, has not
    exited (a zombie waiting for its parent has), and started at ``started`` when that is known."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(process.create_time() - started) <= _START_TIME_TOLERANCE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # another user's process: it exists, and that is all we can tell
        return True


def psql_command(url: str) -> str:
    """A shell command that opens ``url`` in psql: the machine's, or the one in the pgserver wheel.

    Only for URLs without a password (the embedded server's never has one): the command is printed.
    """
    psql = shutil.which("psql")
    if psql is None:
        bundled = Path(_import_pgserver().__file__).parent / "pginstall" / "bin" / "psql"
        psql = str(bundled) if bundled.exists() else "psql"
    else:
        psql = "psql"
    return f"{psql} '{url}'"


def with_database(url: str, database: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_scheme(url: str, scheme: str) -> str:
    """The URL with another scheme, e.g. ``postgresql+psycopg2`` for SQLAlchemy-based clients."""
    return urlunsplit(urlsplit(url)._replace(scheme=scheme))


def ensure_database(url: str, database: str) -> str:
    """Create ``database`` on the server of ``url`` if it does not exist; return its URL."""
    with psycopg.connect(url, autocommit=True) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return with_database(url, database)
