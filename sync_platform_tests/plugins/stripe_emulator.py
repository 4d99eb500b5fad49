"""The Stripe emulator for tests: ``stripe_emulator`` (a fresh one per test) and a webhook receiver.

Each test gets its own emulator on a free 127.0.0.1 port. Generated datasets are cached per
config in the process, so a fresh emulator costs a server start (~0.1 s), not a regeneration.
``stripe_emulator_factory`` starts emulators with other settings; ``webhook_receiver`` is a real
local HTTP endpoint that records what it is sent and answers with scripted statuses.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from sync_platform.emulator import EmulatorConfig, RunningEmulator, run_emulator

TEST_OBJECTS = 400
TEST_SEED = 7


@pytest.fixture
def stripe_emulator() -> Iterator[RunningEmulator]:
    """A running emulator with a small generated account (``TEST_OBJECTS`` objects, seed ``TEST_SEED``)."""
    with run_emulator(EmulatorConfig(objects=TEST_OBJECTS, seed=TEST_SEED)) as emulator:
        yield emulator


@pytest.fixture
def stripe_emulator_factory() -> Iterator[Callable[..., RunningEmulator]]:
    """Starts emulators with other settings (``factory(objects=50, connected_accounts=2)``) for one test."""
    with contextlib.ExitStack() as stack:

        def start(config: EmulatorConfig | None = None, **settings: Any) -> RunningEmulator:
            return stack.enter_context(run_emulator(config, **settings))

        yield start


@dataclass(frozen=True)
class ReceivedWebhook:
    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """A local endpoint that records every POST and answers with ``statuses`` in turn (then 200)."""

    def __init__(self) -> None:
        self.received: list[ReceivedWebhook] = []
        self.statuses: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append(ReceivedWebhook(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )
        self._thread.start()
        host, port = self._server.server_address[:2]
        self.url = f"http://{host!s}:{port}/webhooks"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()
