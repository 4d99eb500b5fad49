"""Errors the engine raises when a pipeline cannot be resolved or a connector misbehaves."""

from __future__ import annotations

from collections.abc import Collection

from sync_platform.errors import SyncPlatformError, did_you_mean


class EngineError(SyncPlatformError, RuntimeError):
    """The engine could not carry out an operation."""


class UnknownConnectorError(SyncPlatformError, LookupError):
    def __init__(self, kind: str, name: str, known: Collection[str]) -> None:
        self.kind, self.name, self.known = kind, name, sorted(known)
        super().__init__(
            f"Unknown {kind} connector {name!r}.{did_you_mean(name, known)} "
            f"Installed {kind}s: {', '.join(self.known) or '(none)'}. Third-party connectors register "
            f"through the 'sync_platform.{kind}s' entry point group."
        )


class UnknownStreamError(SyncPlatformError, ValueError):
    """A pipeline names a stream its source does not offer."""

    def __init__(
        self,
        stream: str,
        known: Collection[str],
        *,
        source: str = "the source",
        connector: str | None = None,
    ) -> None:
        self.stream, self.known = stream, sorted(known)
        listing = f"`sync-platform streams --source {connector or '<connector>'}` lists the streams"
        super().__init__(
            f"Stream {stream!r} is not in the catalog of {source}.{did_you_mean(stream, known)} "
            f"Fix the pipeline's `streams` ({listing})."
        )


class ConnectorOutputError(SyncPlatformError, TypeError):
    """A connector yielded something that is not a protocol message."""

    def __init__(self, connector: str, value: object) -> None:
        self.connector = connector
        super().__init__(
            f"Connector {connector!r} yielded a {type(value).__name__}, not a protocol message. "
            "Connectors must yield sync_platform.protocol message models."
        )
