"""Masks secrets in text before it is logged or printed, whatever the log level.

Secrets are already held as ``SecretStr`` in config models; this is the second net, for a key
that reaches a message some other way (an exception text, a URL, a header dump).
"""

from __future__ import annotations

import logging
import re
from typing import Any

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Stripe secret, restricted and webhook-signing keys: keep the prefix so the kind stays visible.
    (re.compile(r"\b((?:sk|rk)_(?:test|live)_)[0-9A-Za-z]+"), r"\1" + MASK),
    (re.compile(r"\b(whsec_)[0-9A-Za-z+/=]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(authorization:?\s*(?:bearer|basic)\s+)[^\s,'\"]+"), r"\1" + MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + MASK),
    # user:password@ in URLs (postgresql://app:hunter2@db/...).
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]+:)[^@/\s]+@"), r"\1" + MASK + "@"),
    # password=... in libpq key/value DSNs and query strings.
    (re.compile(r"(?i)\b(password\s*=\s*)('[^']*'|[^\s&]+)"), r"\1" + MASK),
    # A private key block, as in Google service-account JSON.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), MASK),
)


def redact(text: str) -> str:
    """``text`` with every recognised secret replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts/lists (for structured log fields and JSON output)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


class RedactingFilter(logging.Filter):
    """A handler filter that renders each record's message and masks secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if redacted != message or record.args:
            record.msg, record.args = redacted, None
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Add the redacting filter to every handler of ``logger`` (the root logger by default)."""
    target = logger or logging.getLogger()
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
