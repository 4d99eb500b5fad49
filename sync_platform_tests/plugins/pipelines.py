"""A real pipeline store per test (its own schema on the test PostgreSQL) and a connector with secrets.

The built-in fixture connectors declare no secret fields, so ``SecretiveSource`` adds the shapes a
real source has (an API key with a pattern, a webhook secret or a list of them during rotation, a
nested password, the ``poll_events`` switch) on top of the fixture source's records.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sync_platform.destinations.fixture import EchoDestination, NullDestination
from sync_platform.engine import Config, ConnectorRegistry
from sync_platform.engine.state_coalescing import INTERVAL_VARIABLE
from sync_platform.pipelines import SECRET_KEY_ENV, PipelineStore
from sync_platform.protocol import (
    CatalogPayload,
    ConfiguredCatalog,
    ConnectionStatusPayload,
    ConnectorSpecification,
    Message,
    SourceState,
)
from sync_platform.sources.fixture import FixtureSource
from sync_platform_tests.plugins.postgres import PgTestDatabase

STRIPE_KEY = "sk_test_" + "51SecretiveKeyNeverPrinted0123456789"
WEBHOOK_SECRET = "whsec_" + "SecretiveWebhookNeverPrinted42"
DB_PASSWORD = "hunter2-correct-horse-battery"


class _Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user: str = "app"
    password: SecretStr


class SecretiveSourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(json_schema_extra={"pattern": "^(sk|rk)_(test|live)_"})
    webhook_secret: SecretStr | list[SecretStr] | None = None
    webhook_url: str | None = None
    poll_events: bool = False
    credentials: _Credentials | None = None
    streams: dict[str, int] = {"customer": 5}
    state_every: int = 5
    account_id: str = "acct_secretive"


class SecretiveSource(FixtureSource):
    """The fixture source behind a config with secrets (registered as ``secretive`` in tests)."""

    def spec(self) -> ConnectorSpecification:
        return ConnectorSpecification(config=SecretiveSourceConfig.model_json_schema())

    @staticmethod
    def _fixture_config(config: Config) -> Config:
        parsed = SecretiveSourceConfig.model_validate(config)
        return {"streams": parsed.streams, "state_every": parsed.state_every, "account_id": parsed.account_id}

    async def check(self, config: Config) -> ConnectionStatusPayload:
        return await super().check(self._fixture_config(config))

    async def discover(self, config: Config) -> CatalogPayload:
        return await super().discover(self._fixture_config(config))

    def read(
        self,
        config: Config,
        catalog: ConfiguredCatalog,
        state: SourceState | None,
        input: AsyncIterable[Any] | None = None,
    ) -> AsyncIterator[Message]:
        return super().read(self._fixture_config(config), catalog, state, input)


def make_registry() -> ConnectorRegistry:
    return ConnectorRegistry(
        sources={"fixture": FixtureSource, "secretive": SecretiveSource},
        destinations={"null": NullDestination, "echo": EchoDestination},
    )


@pytest.fixture
def secret_key() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def store_environ(secret_key: str) -> dict[str, str]:
    """The environment the store reads secrets from: an encryption key and one referenced secret."""
    return {SECRET_KEY_ENV: secret_key, "STRIPE_API_KEY": STRIPE_KEY}


@pytest.fixture
def connector_registry() -> ConnectorRegistry:
    return make_registry()


@pytest.fixture
def pipeline_store(
    pg: PgTestDatabase, store_environ: dict[str, str], connector_registry: ConnectorRegistry
) -> Iterator[PipelineStore]:
    with PipelineStore(
        pg.url, schema=pg.schema, registry=connector_registry, environ=store_environ, max_connections=6
    ) as store:
        yield store


@pytest.fixture
def every_checkpoint_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Engines commit every checkpoint, coalescing none (``SYNC_PLATFORM_CHECKPOINT_INTERVAL=0``):
    a test of batching can then cut a few small pages into many batches."""
    monkeypatch.setenv(INTERVAL_VARIABLE, "0")
