"""Where ``sync-platform pipelines …`` reads and writes pipelines: the app database, or a service.

``LocalPipelines`` is the store on this machine (the default); ``RemotePipelines``
(``cli/remote.py``) is a running ``sync-platform serve`` reached with ``--remote URL``. Both answer
with the same ``Pipeline`` objects (a remote one masked, which is all a command prints), so every
command prints the same thing and exits with the same code whichever it talks to.
"""

from __future__ import annotations

from typing import Literal, Protocol

from sync_platform.engine import Engine
from sync_platform.pipelines import (
    ConnectorConfigs,
    DesiredStatus,
    MissingEnvSecretError,
    Pipeline,
    PipelineCreate,
    PipelineStore,
    PipelineUpdate,
)
from sync_platform.pipelines.connector_check import CheckResult, check_pipeline, create_checked
from sync_platform.pipelines.leftovers import leftovers

Side = Literal["source", "destination"]


class PipelineBackend(Protocol):
    """What the ``pipelines`` commands need, wherever the pipelines live."""

    @property
    def configs(self) -> ConnectorConfigs:
        """Connector specs, to turn ``--source.<field>`` flags into a config."""
        ...

    def create(self, request: PipelineCreate, *, skip_check: bool) -> tuple[Pipeline, list[CheckResult]]: ...

    def list_pipelines(self, *, include_deleted: bool) -> list[Pipeline]: ...

    def get(self, pipeline_id: str) -> tuple[Pipeline, int]:
        """The pipeline and its webhook inbox backlog."""
        ...

    def update(
        self, pipeline_id: str, change: PipelineUpdate, *, expected_version: int | None
    ) -> Pipeline: ...

    def set_desired(
        self, pipeline_id: str, desired: DesiredStatus, *, expected_version: int | None
    ) -> Pipeline: ...

    def purge(self, pipeline_id: str) -> list[str]:
        """Forget the pipeline now; what its setup may have left behind."""
        ...

    def check(self, pipeline_id: str, *, only: Side | None) -> list[CheckResult]: ...


class LocalPipelines:
    """The pipelines in the app database this command opened."""

    def __init__(self, store: PipelineStore, engine: Engine) -> None:
        self.store = store
        self.engine = engine

    @property
    def configs(self) -> ConnectorConfigs:
        return self.store.configs

    def create(self, request: PipelineCreate, *, skip_check: bool) -> tuple[Pipeline, list[CheckResult]]:
        try:
            return create_checked(self.store, self.engine, request, skip_check=skip_check)
        except MissingEnvSecretError as error:  # the check reads env references in this shell
            error.cli_hint = (  # type: ignore[attr-defined]  # read by the CLI's error report
                f"Export {error.env_var} in this shell to check the connection, or pass --skip-check to "
                "store the pipeline without checking."
            )
            raise

    def list_pipelines(self, *, include_deleted: bool) -> list[Pipeline]:
        return self.store.list_pipelines(include_deleted=include_deleted)

    def get(self, pipeline_id: str) -> tuple[Pipeline, int]:
        pipeline = self.store.get(pipeline_id)
        return pipeline, self.store.count_pending_inbox(pipeline_id)

    def update(self, pipeline_id: str, change: PipelineUpdate, *, expected_version: int | None) -> Pipeline:
        return self.store.update(pipeline_id, change, expected_version=expected_version)

    def set_desired(
        self, pipeline_id: str, desired: DesiredStatus, *, expected_version: int | None
    ) -> Pipeline:
        change = {
            DesiredStatus.PAUSED: self.store.pause,
            DesiredStatus.ACTIVE: self.store.resume,
            DesiredStatus.DELETED: self.store.delete,
        }[desired]
        return change(pipeline_id, expected_version=expected_version)

    def purge(self, pipeline_id: str) -> list[str]:
        left = leftovers(self.store.get(pipeline_id))
        self.store.purge(pipeline_id, force=True)
        return left

    def check(self, pipeline_id: str, *, only: Side | None) -> list[CheckResult]:
        return check_pipeline(self.store, self.engine, pipeline_id, only=only)
