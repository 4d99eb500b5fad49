"""Finds connectors by name: built-ins by import path, third-party ones through entry points.

Built-ins are named by dotted path rather than imported here, so the engine never imports a source
or destination module (imports run one way: protocol <- engine <- connectors) and starting the CLI
does not pay for importing every connector's dependencies.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Literal, cast

from sync_platform.engine.connectors import Destination, Source
from sync_platform.engine.errors import UnknownConnectorError

logger = logging.getLogger(__name__)

ConnectorKind = Literal["source", "destination"]
Factory = Callable[[], Any]

BUILTIN_SOURCES: Mapping[str, str] = {
    "fixture": "sync_platform.sources.fixture:FixtureSource",
    "stripe": "sync_platform.sources.stripe:StripeSource",
}
BUILTIN_DESTINATIONS: Mapping[str, str] = {
    "null": "sync_platform.destinations.fixture:NullDestination",
    "echo": "sync_platform.destinations.fixture:EchoDestination",
    "buffer": "sync_platform.destinations.fixture:BufferingDestination",
    "postgres": "sync_platform.destinations.postgres:PostgresDestination",
    "google_sheets": "sync_platform.destinations.google_sheets:GoogleSheetsDestination",
}
ENTRY_POINT_GROUPS: Mapping[ConnectorKind, str] = {
    "source": "sync_platform.sources",
    "destination": "sync_platform.destinations",
}


def _load_path(path: str) -> Factory:
    module_name, _, attribute = path.partition(":")
    return cast(Factory, getattr(importlib.import_module(module_name), attribute))


class ConnectorRegistry:
    """Name -> connector factory, per kind. A factory is any zero-argument callable (usually a class)."""

    def __init__(
        self,
        *,
        sources: Mapping[str, Factory | str] | None = None,
        destinations: Mapping[str, Factory | str] | None = None,
    ) -> None:
        self._factories: dict[ConnectorKind, dict[str, Factory | str]] = {
            "source": dict(sources or {}),
            "destination": dict(destinations or {}),
        }

    def register_source(self, name: str, factory: Factory | str) -> None:
        self._factories["source"][name] = factory

    def register_destination(self, name: str, factory: Factory | str) -> None:
        self._factories["destination"][name] = factory

    def names(self, kind: ConnectorKind) -> list[str]:
        return sorted(self._factories[kind])

    def _create(self, kind: ConnectorKind, name: str) -> Any:
        factory = self._factories[kind].get(name)
        if factory is None:
            raise UnknownConnectorError(kind, name, self._factories[kind])
        if isinstance(factory, str):
            factory = _load_path(factory)
        return factory()

    def source(self, name: str) -> Source:
        return cast(Source, self._create("source", name))

    def destination(self, name: str) -> Destination:
        return cast(Destination, self._create("destination", name))


def _entry_point_factory(entry_point: EntryPoint) -> Factory:
    """Load the entry point's object (a class or factory) only when the connector is first used."""

    def create() -> Any:
        return entry_point.load()()

    return create


def default_registry(*, include_entry_points: bool = True) -> ConnectorRegistry:
    """The built-in connectors plus every installed third-party one; built-ins win a name clash."""
    registry = ConnectorRegistry()
    if include_entry_points:
        for kind, group in ENTRY_POINT_GROUPS.items():
            for entry_point in entry_points(group=group):
                registry._factories[kind][entry_point.name] = _entry_point_factory(entry_point)
                logger.debug("registered %s connector %r from %s", kind, entry_point.name, entry_point.value)
    for name, path in BUILTIN_SOURCES.items():
        registry.register_source(name, path)
    for name, path in BUILTIN_DESTINATIONS.items():
        registry.register_destination(name, path)
    return registry
