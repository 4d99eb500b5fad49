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
from typing import IO, Any

from sync_platform.redaction import install_redaction, redact, redact_value

_STANDARD_ATTRIBUTES = frozenset(logging.LogRecord("", logging.INFO, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonLogFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "message", ...extra fields, "exception"?}`` per record."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                payload[key] = redact_value(value)
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


def configure_json_logging(level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """Send every log record to ``stream`` (stderr) as JSON, through the redacting filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level)
    install_redaction(root)
