"""The contracts every source and destination implements, and no-op defaults for optional steps.

Both sides speak protocol messages through async iterators. Cancellation is iterator-driven: whoever
consumes a connector's iterator closes it (``aclose``) to stop it, and a connector must release what
it holds (HTTP clients, connections) in ``finally`` blocks.

**The destination contract** (the engine's checkpoints depend on it): echo every accepted ``record``,
re-emit each ``source_state`` only once every record before it is durable (a ``global`` state waits
for every stream), pass every other message through unchanged, and report a failed write as a
``stream_status: error`` for that stream instead of re-emitting its state.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from typing import Any, Protocol, runtime_checkable

from sync_platform.protocol import (
    CatalogPayload,
    ConfiguredCatalog,
    ConnectionStatusPayload,
    ConnectorSpecification,
    Message,
    SourceState,
)

Config = dict[str, Any]


@runtime_checkable
class Source(Protocol):
    def spec(self) -> ConnectorSpecification:
        """The config schema (and per-stream state schema) this source accepts."""
        ...

    async def check(self, config: Config) -> ConnectionStatusPayload:
        """Whether the source can reach its system with this config; never raises for a bad key."""
        ...

    async def discover(self, config: Config) -> CatalogPayload: ...

    def read(
        self,
        config: Config,
        catalog: ConfiguredCatalog,
        state: SourceState | None,
        input: AsyncIterable[Any] | None = None,
    ) -> AsyncIterator[Message]:
        """Records and checkpoints for the catalog's streams, resuming from ``state``.

        With ``input`` (pushed events) the source reads only those; otherwise it backfills.
        """
        ...

    def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        """Provision what the source needs (a webhook endpoint); may yield a ``control`` message."""
        ...

    def teardown(self, config: Config) -> AsyncIterator[Message]: ...


@runtime_checkable
class Destination(Protocol):
    def spec(self) -> ConnectorSpecification: ...

    async def check(self, config: Config) -> ConnectionStatusPayload: ...

    def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]: ...

    def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]: ...

    def teardown(self, config: Config) -> AsyncIterator[Message]: ...


async def _nothing() -> AsyncIterator[Message]:
    return
    yield  # pragma: no cover - makes this an async generator


class NoSetup:
    """Mixin for connectors with nothing to provision or remove."""

    def setup(self, config: Config, catalog: ConfiguredCatalog) -> AsyncIterator[Message]:
        return _nothing()

    def teardown(self, config: Config) -> AsyncIterator[Message]:
        return _nothing()


# --- Optional offline hooks ----------------------------------------------------------------------
# What a connector can tell without any I/O, so a pipeline is checked before it is stored, even
# where nothing can be reached yet (``--skip-check`` skips only the connection check). A connector
# offers these by defining the methods below; the functions after them call the methods when
# present and fall back to "the spec's JSON schema is all there is to check" and "only ``discover``
# knows the streams", so connectors without them keep working.

SECRET_PLACEHOLDER = "<secret held elsewhere>"
"""What ``validate_config`` sees in place of a secret the caller holds only by reference."""


@runtime_checkable
class ValidatesConfigOffline(Protocol):
    def validate_config(self, config: Config) -> None:
        """Raise ``ConfigError`` (with ``field`` set) for a config the connector would refuse.

        ``config`` already matches ``spec().config`` with defaults applied: check what a JSON
        schema cannot say (cross-field rules, limits of the system behind the connector). A secret
        the caller holds only as a reference (an environment variable read where the pipeline runs)
        arrives as ``SECRET_PLACEHOLDER``; the caller disregards errors reported at its field.
        """
        ...


@runtime_checkable
class CatalogOffline(Protocol):
    def offline_catalog(self) -> CatalogPayload:
        """Every stream the source offers whatever its config, known without I/O (Stripe: from the
        installed SDK). A source whose streams depend on its config or account leaves this out."""
        ...


def validate_config_offline(connector: object, config: Config) -> None:
    """The connector's own offline check of ``config``, if it has one."""
    if isinstance(connector, ValidatesConfigOffline):
        connector.validate_config(config)


def offline_catalog(source: object) -> CatalogPayload | None:
    """The source's streams known without I/O, or None when only ``discover`` can tell."""
    return source.offline_catalog() if isinstance(source, CatalogOffline) else None
