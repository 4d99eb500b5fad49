"""Serves the service with uvicorn until Ctrl-C or SIGTERM, then shuts down gracefully.

The server wrapper is the webhook receiver's (``webhooks.server.WebhookServer``: uvicorn with our
logging, no access log, a graceful shutdown); the service's lifespan cancels runs still streaming,
which keep every checkpoint they committed.
"""

from __future__ import annotations

import socket

from fastapi import FastAPI

from sync_platform.webhooks.server import WebhookServer, bind_socket

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

ServiceServer = WebhookServer
"""uvicorn serving an app; ``serve()`` blocks until ``stop()``, Ctrl-C or SIGTERM."""


def serve(
    app: FastAPI, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, sock: socket.socket | None = None
) -> None:
    """Serve ``app`` on ``host:port`` (or on ``sock``) until stopped."""
    ServiceServer(app, host=host, port=port, sock=sock).serve()


__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "ServiceServer", "bind_socket", "serve"]
