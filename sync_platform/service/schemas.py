"""The shapes of the API's answers, for the OpenAPI document.

Requests are the models the store already takes (``PipelineCreate``, ``PipelineUpdate``), and a
pipeline is answered as ``Pipeline.masked()``, so these only describe what is sent: nothing here
validates or builds an answer (handlers return the masked JSON directly, which is also faster for
a list of a thousand pipelines than a second round of validation).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from sync_platform.pipelines import (
    DesiredStatus,
    DisplayStatus,
    PipelineError,
    PipelineStatus,
    StreamSelection,
)


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorDetail(BaseModel):
    type: str = Field(description="The error's class, e.g. `TransitionError`, `ConfigError`.")
    message: str = Field(description="What went wrong and what to do: the words the CLI prints.")
    field: str | None = Field(
        default=None, description="Where in the request, e.g. `destination.postgres.schema` or `streams`."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class AccountStatusEntry(_Doc):
    status: str = Field(description="`ready`, `backfilling`, `error` or `deauthorized`.")
    cause: str | None = Field(default=None, description="`error` only: why the account was parked.")
    failure_kind: str | None = Field(default=None, description="`error` only: e.g. `permission`.")
    purged: bool | None = Field(
        default=None, description="`deauthorized` only: its rows were removed (`purge_deauthorized`)."
    )


class AccountStatusView(BaseModel):
    total: int
    healthy: int = Field(description="Accounts `ready` or `backfilling`.")
    counts: dict[str, int] = Field(description="Accounts per status.")
    accounts: dict[str, AccountStatusEntry] = Field(description="Account id -> its status.")


class PipelineView(_Doc):
    """A pipeline, masked: secrets are `***` or `{"env": NAME}`, never their values."""

    id: str
    source: dict[str, Any] = Field(description='`{"type": T, T: {config, masked}}`')
    destination: dict[str, Any] = Field(description='`{"type": T, T: {config, masked}}`')
    streams: list[StreamSelection] | None = Field(description="null: every stream the source offers")
    desired_status: DesiredStatus
    status: PipelineStatus
    display_status: DisplayStatus
    error: PipelineError | None = None
    resume_status: PipelineStatus | None = None
    consecutive_failures: int = 0
    sync_state: dict[str, Any] | None = Field(
        default=None, description="The backfill checkpoint (list: only with `include_state=true`)."
    )
    live_state: dict[str, Any] | None = Field(
        default=None, description="The live checkpoint (list: only with `include_state=true`)."
    )
    version: int = Field(description="Send it back in `If-Match` to change only this version.")
    created_at: datetime
    updated_at: datetime
    torn_down_at: datetime | None = None
    progress: dict[str, Any] | None = Field(
        default=None,
        description="List only: `{records, streams, streams_completed, last_sync_at}` from the checkpoints.",
    )
    pending_webhook_events: int | None = Field(default=None, description="Get only: the inbox backlog.")
    account_status: AccountStatusView | None = Field(
        default=None,
        description="Get only, for a source that reads several accounts (Stripe Connect): each "
        "account's status, from the checkpoints.",
    )


class PipelineList(BaseModel):
    data: list[PipelineView]
    has_more: bool = False


class CheckResultView(BaseModel):
    side: str
    connector: str
    status: str = Field(description="`succeeded` or `failed`")
    message: str | None = None


class PipelineCreated(PipelineView):
    checks: list[CheckResultView] = Field(
        default_factory=list, description="The connection checks run before it was stored."
    )


class PurgedView(BaseModel):
    id: str
    purged: bool
    may_be_left_behind: list[str]


class CheckList(BaseModel):
    data: list[CheckResultView]
    succeeded: bool


class RunView(BaseModel):
    id: str = Field(description="The Dagster run id, or the recorded run's id.")
    pipeline_id: str
    origin: str = Field(description="`dagster`, `cli`, `api` or `console`.")
    status: str = Field(description="`queued`, `running`, `succeeded`, `failed`, `cancelled`, `interrupted`.")
    lanes: list[str]
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    batches: int | None
    records: int | None
    events_applied: int | None
    error: str | None
    holder: str | None
    dagster_run_id: str | None
    url: str | None = Field(description="The run in the Dagster UI, when it is a Dagster run.")


class RunList(BaseModel):
    data: list[RunView]
    dagster: str = Field(description="`available`, `unavailable` (no instance reachable) or `off`.")


class StreamView(BaseModel):
    name: str
    description: str
    group: str = Field(description="A product area, for choosing streams (`payments`, `billing`, …).")
    primary_key: list[str]
    metadata: dict[str, Any]


class StreamList(BaseModel):
    source: str
    data: list[StreamView]


class ConnectorView(BaseModel):
    name: str
    config_schema: dict[str, Any] = Field(description="The connector's config JSON schema.")
    lists_streams: bool | None = Field(default=None, description="Sources: whether `GET /streams` works.")


class ConnectorList(BaseModel):
    sources: list[ConnectorView]
    destinations: list[ConnectorView]


class Health(BaseModel):
    ok: bool
    hostname: str
    version: str
    webhooks: dict[str, int] = Field(description="Webhook deliveries per outcome since the service started.")


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in {
        400: "Bad input: the field is named",
        401: "No token, or not a valid one",
        403: "A read-only token tried to change something",
        404: "No such pipeline",
        409: "Conflict: deleted is terminal, the id is taken, the pipeline is busy or may not run now",
        503: "The app database cannot be reached",
    }.items()
}
