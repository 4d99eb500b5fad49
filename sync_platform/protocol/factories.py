"""Short constructors for the messages connectors emit most, so call sites read like the protocol.

``record``, ``stream_state`` and ``stream_range_complete`` skip pydantic validation on purpose
(``WireModel.trusted``): they sit on the hot path (every object of a backfill passes through
``record``; a Connect backfill checkpoints every page of every account) and their arguments come
from our own code, already typed. The last two still validate arguments of another type (a str
subclass, a datetime subclass), which validation would convert.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sync_platform.errors import FailureKind
from sync_platform.protocol.catalog import OpenTimeRange, TimeRange
from sync_platform.protocol.messages import (
    ConnectionStatusMessage,
    DestinationConfigControl,
    GlobalStatePayload,
    LogLevel,
    LogMessage,
    LogPayload,
    RecordMessage,
    RecordPayload,
    SourceConfigControl,
    SourceStateMessage,
    StreamStatePayload,
    StreamStatusMessage,
)
from sync_platform.protocol.messages import ControlMessage as _ControlMessage
from sync_platform.protocol.status import (
    ConnectionStatus,
    ConnectionStatusPayload,
    StreamComplete,
    StreamError,
    StreamRangeComplete,
    StreamSkip,
    StreamStart,
)
from sync_platform.protocol.times import utc_now


def record(
    stream: str, data: dict[str, Any], *, deleted: bool = False, emitted_at: datetime | None = None
) -> RecordMessage:
    payload = RecordPayload.trusted(
        {
            "stream": stream,
            "data": data,
            "record_deleted": True if deleted else None,
            "emitted_at": emitted_at or utc_now(),
        }
    )
    return RecordMessage.trusted({"emitted_by": None, "ts": None, "type": "record", "record": payload})


def stream_state(stream: str, data: Any) -> SourceStateMessage:
    if type(stream) is not str:  # what validation would turn into a str, it still does
        return SourceStateMessage(source_state=StreamStatePayload(stream=stream, data=data))
    payload = StreamStatePayload.trusted(
        {"state_type": "stream", "stream": stream, "data": data}, {"stream", "data"}
    )
    return SourceStateMessage.trusted(
        {"emitted_by": None, "ts": None, "type": "source_state", "source_state": payload},
        {"source_state"},
    )


def global_state(data: Any) -> SourceStateMessage:
    return SourceStateMessage(source_state=GlobalStatePayload(state_type="global", data=data))


def log(level: LogLevel | str, message: str, data: dict[str, Any] | None = None) -> LogMessage:
    return LogMessage(log=LogPayload(level=LogLevel(level), message=message, data=data))


def connection_status(
    succeeded: bool, message: str | None = None, failure_kind: FailureKind | None = None
) -> ConnectionStatusMessage:
    status = ConnectionStatus.SUCCEEDED if succeeded else ConnectionStatus.FAILED
    payload = ConnectionStatusPayload(status=status, message=message, failure_kind=failure_kind)
    return ConnectionStatusMessage(connection_status=payload)


def stream_start(stream: str, time_range: OpenTimeRange | None = None) -> StreamStatusMessage:
    return StreamStatusMessage(stream_status=StreamStart(stream=stream, time_range=time_range))


def stream_range_complete(stream: str, gte: datetime, lt: datetime) -> StreamStatusMessage:
    if type(stream) is not str or type(gte) is not datetime or type(lt) is not datetime:
        return StreamStatusMessage(
            stream_status=StreamRangeComplete(stream=stream, range_complete=TimeRange(gte=gte, lt=lt))
        )
    time_range = TimeRange.trusted({"gte": gte, "lt": lt})
    payload = StreamRangeComplete.trusted(
        {"stream": stream, "status": "range_complete", "range_complete": time_range},
        {"stream", "range_complete"},
    )
    return StreamStatusMessage.trusted(
        {"emitted_by": None, "ts": None, "type": "stream_status", "stream_status": payload},
        {"stream_status"},
    )


def stream_complete(stream: str) -> StreamStatusMessage:
    return StreamStatusMessage(stream_status=StreamComplete(stream=stream))


def stream_error(stream: str, error: str, failure_kind: FailureKind | None = None) -> StreamStatusMessage:
    return StreamStatusMessage(
        stream_status=StreamError(stream=stream, error=error, failure_kind=failure_kind)
    )


def stream_skip(stream: str, reason: str) -> StreamStatusMessage:
    return StreamStatusMessage(stream_status=StreamSkip(stream=stream, reason=reason))


def source_config_control(config: dict[str, Any]) -> _ControlMessage:
    return _ControlMessage(control=SourceConfigControl(source_config=config))


def destination_config_control(config: dict[str, Any]) -> _ControlMessage:
    return _ControlMessage(control=DestinationConfigControl(destination_config=config))
