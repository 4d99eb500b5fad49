"""Dagster resources: the app database (pipelines, checkpoints, inbox) and the sync engine.

Both are configured from environment variables through ``dg.EnvVar`` in ``definitions.py`` and
resolved at run (or tick) time, never at import, so loading the code location needs no database.
"""

from __future__ import annotations

import dagster as dg
from pydantic import Field, PrivateAttr

from sync_platform.engine import Engine, default_registry
from sync_platform.pipelines import Lanes, Pipeline, PipelineStore, lanes


class AppDatabaseResource(dg.ConfigurableResource):
    """The app PostgreSQL holding pipelines, their checkpoints and the webhook inbox."""

    url: str = Field(description="libpq URL of the app database (SYNC_PLATFORM_DATABASE_URL).")
    store_schema: str = Field(default="sync_platform", description="Schema of the pipeline tables.")

    _store: PipelineStore | None = PrivateAttr(default=None)

    def store(self) -> PipelineStore:
        """The store, opened on first use (migrations are applied then) and reused afterwards."""
        if self._store is None:
            self._store = PipelineStore(self.url, schema=self.store_schema)
        return self._store

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None


class PipelineResource(dg.ConfigurableResource):
    """Pipelines as the platform sees them: lookups, lanes and status writes.

    ``lanes(pipeline)`` maps ``desired_status`` (plus the platform status and the source's live
    intake) to the lanes that act for the pipeline; every sensor and schedule asks it on each tick,
    so pausing or deleting a pipeline needs no change to any Dagster instigator.
    """

    app_db: AppDatabaseResource

    def store(self) -> PipelineStore:
        return self.app_db.store()

    def get(self, pipeline_id: str) -> Pipeline:
        return self.store().get(pipeline_id)

    def lanes(self, pipeline: Pipeline) -> Lanes:
        return lanes(pipeline)

    def list_pipelines(self, *, include_deleted: bool = True) -> list[Pipeline]:
        """Without their checkpoints: sensors and schedules decide from statuses and configs, and a
        Connect platform's backfill checkpoint is megabytes (21 MB of JSON at 10,000 accounts)."""
        return self.store().list_pipelines(include_deleted=include_deleted, checkpoints=False)


class SyncEngineResource(dg.ConfigurableResource):
    """The sync engine, with the connectors it can run."""

    def engine(self) -> Engine:
        return Engine(default_registry())
