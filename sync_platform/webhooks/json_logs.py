"""JSON log lines for the receiver: one object per line, extra fields included, secrets redacted.

A service's logs are read by machines (a log shipper, ``jq``), so each request is one line with its
``pipeline_id``, ``event_id``, ``outcome`` and ``status`` as fields rather than words in a sentence.
Every string goes through ``sync_platform.redaction`` at any level, so a secret that reaches a
message or a field by accident is still masked.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from functools import lru_cache
from typing import IO, Any

from sync_platform.redaction import redact

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


@lru_cache(maxsize=4096)
def _redact_short(text: str) -> str:
    return redact(text)


def _redacted(value: Any) -> Any:
    """``redact`` over every string inside ``value``.

    The receiver logs a line per request and most of its strings repeat (messages, pipeline ids,
    event types, outcomes), so short strings are redacted once and remembered: the regexes ran
    for every field of every line and were a fifth of the receiver's CPU time.
    """
    if isinstance(value, str):
        return _redact_short(value) if len(value) <= 200 else redact(value)
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    return value


class JsonLogFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...extra fields, "exception"?}`` per record, redacted.

    The message, every extra field and the traceback are redacted here, so a handler with this
    formatter needs no ``RedactingFilter`` in front of it.
    """

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _redacted(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = _redacted(value)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure_json_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as one redacted JSON object per line."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    # uvicorn configures its own loggers (handlers, no propagation) when a server starts; route them
    # through the root handler so the service writes one log format only.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
