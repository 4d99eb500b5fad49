"""Serves a ``SheetsEmulator`` over HTTP on 127.0.0.1 from a background thread.

The same runner backs the pytest fixture, the benchmark and ``make demo --destination
google_sheets``: uvicorn on a free loopback port, in a daemon thread with its own event loop, so the
caller's code (sync or async) talks to it with a real HTTP client.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from sync_platform.errors import SyncPlatformError
from sync_platform.sheets_emulator.app import create_app
from sync_platform.sheets_emulator.emulator import SheetsEmulator

_STARTUP_TIMEOUT_SECONDS = 15.0


class EmulatorStartError(SyncPlatformError, RuntimeError):
    """The emulator's HTTP server did not come up."""


@contextmanager
def serve_sheets_emulator(
    emulator: SheetsEmulator | None = None, *, host: str = "127.0.0.1", port: int = 0
) -> Iterator[SheetsEmulator]:
    """Run ``emulator`` (a fresh one by default) until the block exits; its ``base_url`` is set.

    ``port=0`` picks a free port. The listening socket is bound before the thread starts, so the
    port is known (and reserved) by the time this yields.
    """
    emulator = emulator or SheetsEmulator()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    bound_port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_app(emulator), log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="sheets-emulator", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + _STARTUP_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            listener.close()
            raise EmulatorStartError(f"the Sheets emulator did not start on {host}:{bound_port}")
        time.sleep(0.01)
    emulator.base_url = f"http://{host}:{bound_port}"
    try:
        yield emulator
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_TIMEOUT_SECONDS)
        listener.close()
        emulator.base_url = None
