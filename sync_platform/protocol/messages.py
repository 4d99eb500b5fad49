"""The eleven message kinds of the NDJSON envelope ``{"type": K, K: payload}``.

Every line a connector or the engine writes is one of these. The envelope repeats the kind as the
key of its payload so a reader can route on ``type`` and still find the payload without a schema.
Two optional fields are set by the engine only: ``_emitted_by`` (``source/<type>``,
``destination/<type>`` or ``engine``) and ``_ts`` (when the engine saw the message).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, TypeAdapter

from sync_platform.protocol.base import WireModel
from sync_platform.protocol.catalog import CatalogPayload
from sync_platform.protocol.eof import EofPayload
from sync_platform.protocol.progress import ProgressPayload
from sync_platform.protocol.status import ConnectionStatusPayload, StreamStatusPayload

# --- payloads ---------------------------------------------------------------------------------------


class RecordPayload(WireModel):
    """One version of one object. A tombstone (the object was deleted) sets ``recordDeleted``.

    The primary key is not a separate field: destinations read it out of ``data`` along the stream's
    ``primary_key`` paths. ``recordDeleted`` is the protocol's one camelCase key, kept for wire
    compatibility with the reference.
    """

    stream: str
    data: dict[str, Any]
    record_deleted: bool | None = Field(default=None, alias="recordDeleted")
    emitted_at: datetime


class StreamStatePayload(WireModel):
    """A checkpoint for one stream; ``data`` is opaque to everyone but the source."""

    state_type: Literal["stream"] = "stream"
    stream: str
    data: Any = None


class GlobalStatePayload(WireModel):
    """A checkpoint shared by all streams (the Stripe events cursor). It fences every stream."""

    state_type: Literal["global"]
    data: Any = None


def _state_type(value: Any) -> str:
    """Payloads without ``state_type`` are stream states, as the reference's schema default says."""
    if isinstance(value, dict):
        return str(value.get("state_type") or "stream")
    return str(getattr(value, "state_type", "stream"))


StatePayload = Annotated[
    Annotated[StreamStatePayload, Tag("stream")] | Annotated[GlobalStatePayload, Tag("global")],
    Discriminator(_state_type),
]


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class LogPayload(WireModel):
    level: LogLevel
    message: str
    data: dict[str, Any] | None = None


class ConnectorSpecification(WireModel):
    """What a connector accepts: its config JSON schema and, for sources, its per-stream state schema.

    ``soft_limit_fraction`` lets a slow-flushing destination ask the engine to stop reading earlier
    than the default 80% of a time limit, leaving time for the final flush.
    """

    config: dict[str, Any]
    source_state_stream: dict[str, Any] | None = None
    source_input: dict[str, Any] | None = None
    soft_limit_fraction: float | None = Field(default=None, gt=0, le=1)


class SourceConfigControl(WireModel):
    """A connector's full replacement config (not a diff); the orchestrator persists it wholesale."""

    control_type: Literal["source_config"] = "source_config"
    source_config: dict[str, Any]


class DestinationConfigControl(WireModel):
    control_type: Literal["destination_config"] = "destination_config"
    destination_config: dict[str, Any]


ControlPayload = Annotated[
    SourceConfigControl | DestinationConfigControl, Field(discriminator="control_type")
]

# --- envelopes --------------------------------------------------------------------------------------


class Envelope(WireModel):
    """Fields common to every message; connectors leave both unset, the engine fills them."""

    emitted_by: str | None = Field(default=None, alias="_emitted_by")
    ts: datetime | None = Field(default=None, alias="_ts")


class RecordMessage(Envelope):
    type: Literal["record"] = "record"
    record: RecordPayload


class SourceStateMessage(Envelope):
    type: Literal["source_state"] = "source_state"
    source_state: StatePayload


class CatalogMessage(Envelope):
    type: Literal["catalog"] = "catalog"
    catalog: CatalogPayload


class LogMessage(Envelope):
    type: Literal["log"] = "log"
    log: LogPayload


class SpecMessage(Envelope):
    type: Literal["spec"] = "spec"
    spec: ConnectorSpecification


class ConnectionStatusMessage(Envelope):
    type: Literal["connection_status"] = "connection_status"
    connection_status: ConnectionStatusPayload


class StreamStatusMessage(Envelope):
    type: Literal["stream_status"] = "stream_status"
    stream_status: StreamStatusPayload


class ControlMessage(Envelope):
    type: Literal["control"] = "control"
    control: ControlPayload


class ProgressMessage(Envelope):
    type: Literal["progress"] = "progress"
    progress: ProgressPayload


class EofMessage(Envelope):
    type: Literal["eof"] = "eof"
    eof: EofPayload


class SourceInputMessage(Envelope):
    """A pushed input (a Stripe event, or a raw webhook ``{body, headers}``) for a source to read."""

    type: Literal["source_input"] = "source_input"
    source_input: Any


Message = Annotated[
    RecordMessage
    | SourceStateMessage
    | CatalogMessage
    | LogMessage
    | SpecMessage
    | ConnectionStatusMessage
    | StreamStatusMessage
    | ControlMessage
    | ProgressMessage
    | EofMessage
    | SourceInputMessage,
    Field(discriminator="type"),
]

MESSAGE_TYPES: tuple[str, ...] = (
    "record",
    "source_state",
    "catalog",
    "log",
    "spec",
    "connection_status",
    "stream_status",
    "control",
    "progress",
    "eof",
    "source_input",
)

message_adapter: TypeAdapter[Message] = TypeAdapter(Message)
