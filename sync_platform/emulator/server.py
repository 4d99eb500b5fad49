"""Runs the emulator over HTTP: in a background thread for tests, or in the foreground for the CLI.

``run_emulator`` binds 127.0.0.1 on a free port before the server starts (so the address is known
and connections queue until it accepts), runs uvicorn on its own thread and event loop, and on exit
asks it to stop and joins the thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import stripe
import uvicorn

from sync_platform.emulator.app import create_app
from sync_platform.emulator.config import EmulatorConfig
from sync_platform.emulator.emulator import Emulator
from sync_platform.emulator.errors import EmulatorError
from sync_platform.engine.clock import Clock

LOCALHOST = "127.0.0.1"
DEFAULT_PORT = 12111  # the port stripe-mock uses, so tools that know one find the other
STARTUP_TIMEOUT = 30.0
SHUTDOWN_TIMEOUT = 10.0


class RunningEmulator:
    """A served emulator: its address and key, plus the ``Emulator`` Python API (by delegation)."""

    def __init__(self, emulator: Emulator, base_url: str) -> None:
        self.emulator = emulator
        self.base_url = base_url

    def __repr__(self) -> str:
        return f"RunningEmulator(base_url={self.base_url!r}, account_id={self.emulator.account_id!r})"

    def __getattr__(self, name: str) -> Any:  # create, update, delete, reset, set_faults, store, faults...
        return getattr(self.emulator, name)

    def client(self, api_key: str | None = None, **options: Any) -> stripe.StripeClient:
        """A real ``StripeClient`` pointed at this emulator (``max_network_retries=0`` unless given)."""
        options.setdefault("max_network_retries", 0)
        return stripe.StripeClient(
            api_key or self.emulator.secret_key, base_addresses={"api": self.base_url}, **options
        )


def bind(host: str = LOCALHOST, port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise EmulatorError(
            f"Cannot listen on {host}:{port} ({error.strerror}); pick another --port."
        ) from None
    sock.listen(1024)
    return sock


def _uvicorn_server(emulator: Emulator, started: threading.Event | None) -> uvicorn.Server:
    app = create_app(emulator, on_started=started.set if started is not None else None)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        server_header=False,
    )
    return uvicorn.Server(config)


@contextlib.contextmanager
def run_emulator(
    config: EmulatorConfig | None = None, *, clock: Clock | None = None, port: int = 0, **settings: Any
) -> Iterator[RunningEmulator]:
    """Serve an emulator on 127.0.0.1 for the duration of the ``with`` block.

    ``settings`` are ``EmulatorConfig`` fields (``run_emulator(objects=200, seed=3)``).
    """
    if config is not None and settings:
        raise EmulatorError("Pass either an EmulatorConfig or keyword settings, not both.")
    emulator = Emulator(config or EmulatorConfig.model_validate(settings), clock=clock)
    sock = bind(LOCALHOST, port)
    started = threading.Event()
    server = _uvicorn_server(emulator, started)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="stripe-emulator", daemon=True
    )
    thread.start()
    try:
        if not started.wait(STARTUP_TIMEOUT) or not thread.is_alive():
            raise EmulatorError("The Stripe emulator did not start; rerun with --debug logs for the cause.")
        host, bound_port = sock.getsockname()[:2]
        yield RunningEmulator(emulator, f"http://{host}:{bound_port}")
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT)
        sock.close()


def serve(
    emulator: Emulator,
    *,
    host: str = LOCALHOST,
    port: int = DEFAULT_PORT,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve in the foreground until interrupted (Ctrl-C), as ``sync-platform emulator serve`` does.

    ``on_listening`` gets the base URL once the port is bound (useful with ``port=0``).
    """
    sock = bind(host, port)
    try:
        bound_host, bound_port = sock.getsockname()[:2]
        if on_listening is not None:
            on_listening(f"http://{bound_host}:{bound_port}")
        _uvicorn_server(emulator, None).run(sockets=[sock])
    finally:
        sock.close()
