"""Runs a stored pipeline from the CLI: its config with secrets, setup when needed, its checkpoints.

``sync <id>`` and ``sync-batch <id>`` run the pipeline in this process, as the platform's backfill
would: the config comes from ``store.resolve_secrets`` (plaintext only in memory), each chunk's or
batch's ``ending_state`` is saved to the pipeline's backfill checkpoint before the next one starts,
and connector ``control`` messages (a new webhook secret, a new spreadsheet id) are persisted with
``store.apply_control``.

A pipeline the platform has not set up yet (``status = setup``) is set up first (connector setup
is idempotent, so the platform doing it again later is harmless); this is what lets ``create``
then ``sync`` land rows without Dagster. Checkpoints are saved with ``expected_version``, so a run
racing another writer on the same pipeline (the platform's backfill, a second CLI) stops with a
conflict instead of overwriting its position.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sync_platform.engine import Engine, blocking
from sync_platform.pipelines import (
    DesiredStatus,
    Pipeline,
    PipelineStatus,
    PipelineStore,
    TransitionError,
)
from sync_platform.protocol import ControlMessage, LogMessage, PipelineConfig, SyncState


def refuse_deleted(pipeline: Pipeline, action: str) -> Pipeline:
    """``pipeline``, unless it is deleted: then a ``TransitionError`` (deleted is terminal)."""
    if pipeline.desired_status is DesiredStatus.DELETED:
        raise TransitionError(
            f"Pipeline {pipeline.id!r} is deleted, and deleted is terminal: it cannot be {action}. "
            "Create a new pipeline instead.",
            pipeline_id=pipeline.id,
            current=DesiredStatus.DELETED,
            requested=action,
        )
    return pipeline


class PipelineRun:
    """One CLI run of a stored pipeline: config, starting checkpoint, and how to save the next."""

    def __init__(
        self, store: PipelineStore, engine: Engine, pipeline_id: str, *, streams: list[str] | None = None
    ) -> None:
        self.store = store
        self.engine = engine
        self.pipeline = refuse_deleted(store.get(pipeline_id), "synced")
        self._streams = streams
        self.config = self._config()
        checkpoint = store.get_checkpoint(pipeline_id)
        self.starting_state: dict[str, Any] | None = checkpoint.state
        self._version = checkpoint.version
        self.saved = 0

    @property
    def pipeline_id(self) -> str:
        return self.pipeline.id

    @property
    def paused(self) -> bool:
        return self.pipeline.desired_status is DesiredStatus.PAUSED

    def _config(self) -> PipelineConfig:
        config = self.store.resolve_secrets(self.pipeline)
        return config.with_streams(self._streams) if self._streams else config

    def setup_if_needed(self, log: Callable[[str], None]) -> bool:
        """Run connector setup when the platform has not done it yet; True if it ran."""
        if self.pipeline.status is not PipelineStatus.SETUP:
            return False
        log(
            f"Running connector setup first ({self.config.source.type} → {self.config.destination.type}): "
            "the platform has not set this pipeline up yet."
        )
        messages = blocking.iterate(lambda: self.engine.setup(self.config))
        for message in messages:
            if isinstance(message, ControlMessage):
                self.apply_control(message)
            elif isinstance(message, LogMessage) and message.log.level in ("warn", "error"):
                log(f"[{message.log.level}] {message.emitted_by}: {message.log.message}")
        return True

    def apply_control(self, message: ControlMessage) -> None:
        """Persist a connector's replacement config and run on with it."""
        self.pipeline = self.store.apply_control(self.pipeline_id, message)
        self.config = self._config()

    def save(self, state: SyncState) -> None:
        """Commit ``state`` as the pipeline's backfill checkpoint (conflict if someone else wrote it)."""
        self._version = self.store.save_checkpoint(self.pipeline_id, state, expected_version=self._version)
        self.saved += 1
