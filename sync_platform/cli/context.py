"""What CLI commands share (``ctx.obj``): the output mode, and the store and engine, opened lazily.

Commands that only run the engine (``demo``, an ad-hoc ``sync``) never touch a database; the first
command that asks for the store opens the app database (perhaps starting the embedded server) and
the root context closes it when the command ends. Tests hand in their own ``CliContext`` (a test
schema, a registry with test connectors, their own environment) through click's ``obj``.

With ``--remote URL`` the commands that support it talk to a running ``sync-platform serve``
instead (``pipelines()`` is then ``RemotePipelines``, ``remote()`` its client); nothing local opens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from sync_platform.cli.app_database import open_app_database, secrets_environ
from sync_platform.cli.pipeline_backend import LocalPipelines, PipelineBackend
from sync_platform.engine import ConnectorRegistry, Engine, default_registry
from sync_platform.pipelines import DEFAULT_SCHEMA, ConnectorConfigs, PipelineStore

if TYPE_CHECKING:  # imported on first use: a local command never loads httpx and the wire format
    from sync_platform.cli.remote import RemoteClient


@dataclass
class CliContext:
    """Settings from the root flags, plus the resources opened for the current command."""

    database_url: str | None = None
    database_schema: str = DEFAULT_SCHEMA
    registry: ConnectorRegistry | None = None
    environ: Mapping[str, str] | None = None
    json_output: bool = False
    remote_url: str | None = None  # --remote: a running `sync-platform serve`
    token_env: str = "SYNC_PLATFORM_TOKEN"  # --token-env: the variable holding its API token
    _store: PipelineStore | None = field(default=None, init=False, repr=False)
    _remote: RemoteClient | None = field(default=None, init=False, repr=False)
    _resources: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    @property
    def env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def connector_registry(self) -> ConnectorRegistry:
        if self.registry is None:
            self.registry = default_registry()
        return self.registry

    def engine(self) -> Engine:
        return Engine(self.connector_registry())

    def store(self, *, max_connections: int = 4) -> PipelineStore:
        """The pipeline store, opened on first use and closed when the command ends."""
        if self._store is None:
            database = self._resources.enter_context(open_app_database(self.database_url, self.env))
            self._store = self._resources.enter_context(
                PipelineStore(
                    database.url,
                    schema=self.database_schema,
                    registry=self.connector_registry(),
                    environ=secrets_environ(database, self.env),
                    max_connections=max_connections,
                )
            )
        return self._store

    def remote(self) -> RemoteClient | None:
        """The service's client with ``--remote`` (opened on first use), else None."""
        if self.remote_url is None:
            return None
        if self._remote is None:
            from sync_platform.cli.remote import RemoteClient

            self._remote = RemoteClient.from_environ(self.remote_url, self.token_env, self.env)
            self._resources.callback(self._remote.close)
        return self._remote

    def pipelines(self) -> PipelineBackend:
        """Where the ``pipelines`` commands act: the service with ``--remote``, else the store."""
        client = self.remote()
        if client is not None:
            from sync_platform.cli.remote import RemotePipelines

            return RemotePipelines(client, ConnectorConfigs(self.connector_registry()))
        return LocalPipelines(self.store(), self.engine())

    def close(self) -> None:
        """Release what the command opened; the context can serve another command afterwards."""
        try:
            self._resources.close()
        finally:
            self._store = None
            self._remote = None
            self._resources = ExitStack()


pass_cli = click.make_pass_decorator(CliContext, ensure=True)
