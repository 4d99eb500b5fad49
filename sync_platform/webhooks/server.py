"""Serves the receiver with uvicorn until Ctrl-C or SIGTERM, then shuts down gracefully.

``run()`` is the typed entry point the ``serve-webhooks`` command wraps (as uvicorn's own
``main.py`` wraps ``uvicorn.run``); ``WebhookServer`` is the same thing as an object, for tests and
benchmarks that serve from a thread on a socket they bound themselves (so the port is known, and
connections made before the server runs wait in the listen backlog instead of failing).

Graceful shutdown is uvicorn's: on the first Ctrl-C the listening socket closes, requests in flight
finish (their inbox rows are committed before they answer) for up to ``shutdown_timeout`` seconds,
and the lifespan logs the final counts; a second Ctrl-C forces the exit.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette

from sync_platform.pipelines import PipelineStore
from sync_platform.sources.stripe.webhook_signature import verify_webhook
from sync_platform.webhooks.app import ReceiverSettings, WebhookVerifier, create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_SHUTDOWN_TIMEOUT_SECONDS = 10


def bind_socket(host: str = DEFAULT_HOST, port: int = 0) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port=0`` picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class WebhookServer:
    """uvicorn serving ``app``; ``serve()`` blocks until ``stop()``, Ctrl-C or SIGTERM."""

    def __init__(
        self,
        app: Starlette,
        *,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        sock: socket.socket | None = None,
        shutdown_timeout: int = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
    ) -> None:
        self._sock = sock
        if sock is not None:
            host, port = sock.getsockname()[:2]
        self.host, self.port = host, port
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_config=None,  # our JSON handler on the root logger formats uvicorn's lines too
                access_log=False,  # the receiver logs one structured line per request itself
                server_header=False,
                lifespan="on",
                timeout_graceful_shutdown=shutdown_timeout,
            )
        )

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def serve(self) -> None:
        self._server.run(sockets=[self._sock] if self._sock is not None else None)

    def stop(self) -> None:
        """Ask the server to shut down gracefully (thread-safe; ``serve()`` then returns)."""
        self._server.should_exit = True

    @contextmanager
    def in_background(self, name: str = "http-server", join_timeout: float = 15) -> Iterator[str]:
        """Serve from a daemon thread until the block ends, yielding the URL; then stop, wait for
        the thread and close the socket. A server still running after ``join_timeout`` raises
        (when the block itself did not), since its port and connections would outlive the block."""
        thread = threading.Thread(target=self.serve, name=name, daemon=True)
        thread.start()
        try:
            yield self.url
        finally:
            self.stop()
            thread.join(join_timeout)
            if self._sock is not None:
                self._sock.close()
        if thread.is_alive():
            raise RuntimeError(f"{name} did not shut down within {join_timeout:g} s")


def run(
    store: PipelineStore,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    settings: ReceiverSettings | None = None,
    verifier: WebhookVerifier = verify_webhook,
    shutdown_timeout: int = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
) -> None:
    """Serve ``POST /webhooks/{pipeline_id}`` and ``GET /healthz`` on ``host:port`` until stopped."""
    app = create_app(store, verifier=verifier, settings=settings)
    WebhookServer(app, host=host, port=port, shutdown_timeout=shutdown_timeout).serve()
