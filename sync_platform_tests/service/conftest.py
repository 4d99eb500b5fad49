"""The service served by uvicorn on 127.0.0.1 over the test's app database, with tokens to call it.

``service`` is a real server (``sync_platform.service`` behind uvicorn on a free port) over a
``PipelineStore`` in the test's schema, with the default connectors plus the test ones (``secretive``
and ``rejecting`` sources, the ``rows`` destination). It comes with an admin and a read-only
token and an HTTP client for each; ``service.transcript`` keeps every response body, so a test can
scan everything the service ever answered for secrets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from sync_platform.engine import ConnectorRegistry, Engine
from sync_platform.pipelines import PipelineStore
from sync_platform.pipelines.api_tokens import ApiTokens, TokenScope
from sync_platform.service import Services, ServiceServer, ServiceSettings, bind_socket, create_service_app
from sync_platform_tests.cli.conftest import DEST_URL_ENV, ROWS_DSN_ENV, cli, cli_environ, cli_registry  # noqa: F401  (fixtures of the remote CLI tests)
from sync_platform_tests.plugins.pipelines import DB_PASSWORD, STRIPE_KEY, WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.service.browser import chromium  # noqa: F401  (the browser tests' fixture)

SECRET_VALUES = (STRIPE_KEY, WEBHOOK_SECRET, DB_PASSWORD)


@dataclass
class RunningService:
    """A service on 127.0.0.1: its URL, what it serves from, tokens, and clients that keep transcripts."""

    url: str
    services: Services
    admin_token: str
    read_token: str
    transcript: list[str] = field(default_factory=list)
    _clients: list[httpx.Client] = field(default_factory=list)

    @property
    def store(self) -> PipelineStore:
        return self.services.store

    def client(self, token: str | None = None, **kwargs: Any) -> httpx.Client:
        """A client with ``token`` as bearer (none when ``token`` is None); closed with the service."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        client = httpx.Client(
            base_url=self.url,
            headers=headers,
            timeout=60,
            event_hooks={"response": [self._record]},
            **kwargs,
        )
        self._clients.append(client)
        return client

    @property
    def admin(self) -> httpx.Client:
        return self.client(self.admin_token)

    @property
    def reader(self) -> httpx.Client:
        return self.client(self.read_token)

    def _record(self, response: httpx.Response) -> None:
        if "ndjson" not in response.headers.get("content-type", ""):
            response.read()
            self.transcript.append(response.text)
        self.transcript.append("\n".join(f"{k}: {v}" for k, v in response.headers.items()))

    def close(self) -> None:
        for client in self._clients:
            client.close()


@contextmanager
def serve_app(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free 127.0.0.1 port until the block ends; yields its URL."""
    with ServiceServer(app, sock=bind_socket("127.0.0.1", 0)).in_background("service", 20) as url:
        yield url


@pytest.fixture
def service_environ(pg: PgTestDatabase, secret_key: str) -> dict[str, str]:
    """The environment the service's store reads secrets from (a test may add to it)."""
    from sync_platform.pipelines import SECRET_KEY_ENV

    return {
        SECRET_KEY_ENV: secret_key,
        "STRIPE_API_KEY": STRIPE_KEY,
        ROWS_DSN_ENV: pg.url,
        DEST_URL_ENV: pg.url,
    }


@pytest.fixture
def service_registry() -> ConnectorRegistry:
    return cli_registry()


@pytest.fixture
def service_settings() -> ServiceSettings:
    return ServiceSettings(dagster_url="http://dagster.test:3000")


@pytest.fixture
def make_service(
    pg: PgTestDatabase,
    service_environ: dict[str, str],
    service_registry: ConnectorRegistry,
    service_settings: ServiceSettings,
) -> Iterator[Callable[..., RunningService]]:
    """Starts the service (``make_service(dagster_runs=...)``); everything stops after the test."""
    started: list[tuple[RunningService, Any]] = []

    def start(**services_kwargs: Any) -> RunningService:
        store = PipelineStore(
            pg.url, schema=pg.schema, registry=service_registry, environ=service_environ, max_connections=8
        )
        services = Services(store, Engine(service_registry), settings=service_settings, **services_kwargs)
        tokens = ApiTokens(store)
        admin = tokens.create("admin", TokenScope.ADMIN).secret
        reader = tokens.create("reader", TokenScope.READ).secret
        serving = serve_app(create_service_app(services))
        url = serving.__enter__()
        running = RunningService(url, services, admin, reader)
        started.append((running, serving))
        return running

    yield start
    for running, serving in reversed(started):
        running.close()
        serving.__exit__(None, None, None)
        running.store.close()


@pytest.fixture
def service(make_service: Callable[..., RunningService]) -> RunningService:
    return make_service()


def assert_no_secret(texts: list[str], extra: tuple[str, ...] = ()) -> None:
    """No response ever carried a secret value, an API token or an encrypted token's ciphertext."""
    everything = "\n".join(texts)
    for secret in (*SECRET_VALUES, *extra):
        assert secret not in everything, f"a secret leaked into a response: {secret[:6]}…"
    assert "gAAAAA" not in everything, "an encrypted token (Fernet ciphertext) leaked into a response"


SECRETIVE_SOURCE = {"type": "secretive", "secretive": {"api_key": {"env": "STRIPE_API_KEY"}}}
NULL_DESTINATION = {"type": "null", "null": {}}


def rows_destination(pg: PgTestDatabase, table: str) -> dict[str, Any]:
    return {"type": "rows", "rows": {"dsn": {"env": ROWS_DSN_ENV}, "schema_name": pg.schema, "table": table}}
