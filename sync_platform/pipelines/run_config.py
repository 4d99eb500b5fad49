"""Turns a stored pipeline into the engine's ``PipelineConfig``, with its secrets revealed for a run.

This is the one place plaintext secrets exist again, in the memory of the process that runs the
sync. The returned config still never prints one: its ``repr`` (and that of its connector configs)
shows the connector type and the config's keys only, so a log line or a traceback that includes it
stays clean. Pass it to the engine; never serialise it.
"""

from __future__ import annotations

from typing import Any

from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.model import Pipeline
from sync_platform.protocol import ConnectorConfig, PipelineConfig, StreamConfig


class RevealedConnectorConfig(ConnectorConfig):
    """A connector config holding plaintext secrets; its repr names the keys, never the values."""

    def __repr_args__(self) -> Any:
        yield "type", self.type
        yield "config", f"<{', '.join(sorted(self.config))}: values hidden>"

    def __str__(self) -> str:
        return repr(self)


class RevealedPipelineConfig(PipelineConfig):
    """``PipelineConfig`` whose connector configs are ``RevealedConnectorConfig``."""

    source: RevealedConnectorConfig
    destination: RevealedConnectorConfig

    def __str__(self) -> str:
        return repr(self)


def resolve_secrets(pipeline: Pipeline, configs: ConnectorConfigs | None = None) -> RevealedPipelineConfig:
    """The engine-ready config of ``pipeline``: env references resolved, tokens decrypted.

    Raises ``MissingEnvSecretError`` naming the variable when a referenced one is unset, and
    ``MissingSecretKeyError`` / ``SecretDecryptionError`` when a token cannot be opened here.
    """
    configs = configs or ConnectorConfigs()
    source = configs.reveal("source", pipeline.source)
    destination = configs.reveal("destination", pipeline.destination)
    streams = (
        None
        if pipeline.streams is None
        else [StreamConfig(name=s.name, backfill_limit=s.backfill_limit) for s in pipeline.streams]
    )
    return RevealedPipelineConfig(
        source=RevealedConnectorConfig(type=source.type, config=source.config),
        destination=RevealedConnectorConfig(type=destination.type, config=destination.config),
        streams=streams,
    )
