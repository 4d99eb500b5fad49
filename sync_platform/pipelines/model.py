"""The Pipeline model as stored and shown, and the requests users send to create or change one.

A pipeline's connector configs are held in their *stored form*: validated against the connector's
spec with defaults applied, every secret an ``{"env": ...}`` reference or an ``{"encrypted": ...}``
token. Serialising a ``Pipeline`` (``model_dump``, ``model_dump_json``, ``repr``) masks tokens as
``***``, so any output path is safe; the store never round-trips a pipeline through its dump.
"""

from __future__ import annotations

import re
import secrets as _random
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    computed_field,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sync_platform.pipelines.lifecycle import Lifecycle, display_status
from sync_platform.pipelines.masking import mask_config
from sync_platform.pipelines.states import (
    DesiredStatus,
    DisplayStatus,
    PipelineError,
    PipelineStatus,
)
from sync_platform.protocol import ConnectorConfig

PIPELINE_ID_PATTERN = r"^[a-z][a-z0-9_-]{2,63}$"
PIPELINE_ID_RULE = (
    "must be 3 to 64 characters: a lowercase letter, then lowercase letters, digits, '_' or '-'"
)
GENERATED_ID_PREFIX = "pipe_"


def generate_pipeline_id() -> str:
    """A fresh ``pipe_<16 hex>`` id: random, so two processes never mint the same one.

    The reference seeded a counter with ``Date.now()``, so two processes starting in the same
    millisecond could collide (reference bug #12).
    """
    return f"{GENERATED_ID_PREFIX}{_random.token_hex(8)}"


def _connector_envelope(value: Any, *, side: str) -> Any:
    """Check the ``{"type": T, T: {...}}`` envelope strictly: a misspelt key must not vanish."""
    if isinstance(value, ConnectorConfig) or not isinstance(value, dict):
        return value
    connector_type = value.get("type")
    if not isinstance(connector_type, str) or not connector_type:
        raise ValueError(f'{side} must look like {{"type": "<connector>", "<connector>": {{...config}}}}')
    unexpected = sorted(set(value) - {"type", connector_type, "config"})
    if unexpected:
        raise ValueError(
            f"{side} has unexpected key(s) {', '.join(map(repr, unexpected))}; the config of connector "
            f"{connector_type!r} goes under the key {connector_type!r}"
        )
    return value


def _stored_configs_masked(args: Iterator[tuple[str | None, Any]]) -> Iterator[tuple[str | None, Any]]:
    """repr arguments of a stored pipeline: configs in their masked output form."""
    for name, value in args:
        if isinstance(value, ConnectorConfig):
            yield name, {"type": value.type, value.type: mask_config(value.config)}
        else:
            yield name, value


def _request_configs_hidden(args: Iterator[tuple[str | None, Any]]) -> Iterator[tuple[str | None, Any]]:
    """repr arguments of a request: configs may hold plaintext secrets, so only their keys show."""
    for name, value in args:
        if isinstance(value, ConnectorConfig):
            yield (
                name,
                {"type": value.type, value.type: f"<{', '.join(sorted(value.config))}: values hidden>"},
            )
        else:
            yield name, value


class StreamSelection(BaseModel):
    """A stream the pipeline syncs; a bare string in input means ``{"name": <string>}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    backfill_limit: PositiveInt | None = Field(
        default=None, description="Stop the backfill of this stream after this many records."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


def _check_streams(streams: list[StreamSelection] | None) -> list[StreamSelection] | None:
    """Refuse a name listed twice. Whether the names exist, and that there is at least one, is the
    store's check against the source (``admission``), so every entry point gets the same message."""
    if streams is None:
        return None
    seen: set[str] = set()
    for stream in streams:
        if stream.name in seen:
            raise ValueError(f"stream {stream.name!r} is listed twice")
        seen.add(stream.name)
    return streams


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    def __repr_args__(self) -> Any:
        return _request_configs_hidden(iter(super().__repr_args__()))


class PipelineCreate(_Request):
    """What a user sends to create a pipeline. Connector configs may hold plaintext secrets here."""

    id: str | None = Field(default=None, pattern=PIPELINE_ID_PATTERN)
    source: ConnectorConfig
    destination: ConnectorConfig
    streams: list[StreamSelection] | None = None
    desired_status: Literal[DesiredStatus.ACTIVE, DesiredStatus.PAUSED] = DesiredStatus.ACTIVE

    @field_validator("id", mode="before")
    @classmethod
    def _readable_id(cls, value: Any) -> Any:
        """The rule in words before the pattern check, which would only quote its regex."""
        if isinstance(value, str) and not re.fullmatch(PIPELINE_ID_PATTERN, value):
            raise PydanticCustomError(
                "pipeline_id", PIPELINE_ID_RULE + " (got {value})", {"value": repr(value)}
            )
        return value

    @field_validator("source", "destination", mode="before")
    @classmethod
    def _envelope(cls, value: Any, info: Any) -> Any:
        return _connector_envelope(value, side=info.field_name)

    _streams = field_validator("streams")(_check_streams)


class PipelineUpdate(_Request):
    """A partial change: only the fields that are set are applied (``streams=None`` means all).

    ``source`` and ``destination`` replace the stored config wholesale; a secret sent back as
    ``***`` (as ``get`` shows it) keeps the stored secret at that place.
    """

    source: ConnectorConfig | None = None
    destination: ConnectorConfig | None = None
    streams: list[StreamSelection] | None = None
    desired_status: DesiredStatus | None = None

    @field_validator("source", "destination", mode="before")
    @classmethod
    def _envelope(cls, value: Any, info: Any) -> Any:
        return _connector_envelope(value, side=info.field_name)

    _streams = field_validator("streams")(_check_streams)

    @property
    def changes_config(self) -> bool:
        return bool({"source", "destination", "streams"} & self.model_fields_set)


class Pipeline(BaseModel):
    """A pipeline as stored: intent, platform status, sealed configs and its two checkpoints.

    ``sync_state`` is the backfill/reconcile checkpoint (the resume point); ``live_state`` is the
    live lanes' checkpoint (events cursor). They are stored apart so a live run can never
    overwrite the backfill's position (reference bug #4). Both are opaque engine JSON here.
    ``resume_status`` is where a paused or failed pipeline returns to; ``consecutive_failures``
    counts failed runs since the last success (or the user's resume) and outlives the ``error``
    a retry clears, so repeated transient failures end up parked; ``version`` increments on
    every write to the pipeline row and is the token for optimistic concurrency.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    id: str = Field(pattern=PIPELINE_ID_PATTERN)
    source: ConnectorConfig
    destination: ConnectorConfig
    streams: list[StreamSelection] | None = None
    desired_status: DesiredStatus
    status: PipelineStatus
    error: PipelineError | None = None
    resume_status: PipelineStatus | None = None
    consecutive_failures: int = Field(default=0, ge=0)
    sync_state: dict[str, Any] | None = None
    live_state: dict[str, Any] | None = None
    version: int = Field(ge=1)
    created_at: datetime
    updated_at: datetime
    torn_down_at: datetime | None = None

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(
            desired_status=self.desired_status,
            status=self.status,
            error=self.error,
            resume_status=self.resume_status,
            torn_down=self.torn_down_at is not None,
        )

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented computed_field idiom
    @property
    def display_status(self) -> DisplayStatus:
        return display_status(self.lifecycle)

    @field_serializer("source", "destination")
    def _masked_connector(self, connector: ConnectorConfig) -> dict[str, Any]:
        return {"type": connector.type, connector.type: mask_config(connector.config)}

    def __repr_args__(self) -> Any:
        return _stored_configs_masked(iter(super().__repr_args__()))

    def masked(self) -> dict[str, Any]:
        """The JSON-ready output form (CLI, API): configs masked, display status included."""
        return self.model_dump(mode="json")
