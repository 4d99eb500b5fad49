"""Classifies why a sync failed, so the pipeline retries transient trouble and parks on bad keys.

``auth`` and ``config`` failures park a pipeline (``status: error``) until the user fixes it:
retrying a revoked key only burns rate limit. Everything else is ``transient`` and retried by the
next run the lifecycle sensor launches.
"""

from __future__ import annotations

import re

from sync_platform.errors import ConfigError
from sync_platform.pipelines import FailureType, SecretError

FAILURE_TYPE_TAG = "sync/failure_type"

_AUTH_PATTERNS = re.compile(
    r"invalid api key|authentication|not authorized|unauthori[sz]ed|\b401\b|expired api key|"
    r"api key provided|permission denied for|password authentication failed",
    re.IGNORECASE,
)
_CONFIG_PATTERNS = re.compile(
    r"invalid (source|destination) config|unknown (stream|connector)", re.IGNORECASE
)


def classify_error(error: BaseException) -> FailureType:
    """The failure type of an exception raised by the engine or a connector."""
    if isinstance(error, ConfigError | SecretError):
        return FailureType.CONFIG
    if type(error).__name__ in ("AuthenticationError", "PermissionError", "StripeAuthError"):
        return FailureType.AUTH
    return classify_message(str(error))


def classify_message(message: str | None) -> FailureType:
    """The failure type of a failure known only by its message (a connection status, a crashed run)."""
    if not message:
        return FailureType.TRANSIENT
    if _AUTH_PATTERNS.search(message):
        return FailureType.AUTH
    if _CONFIG_PATTERNS.search(message):
        return FailureType.CONFIG
    return FailureType.TRANSIENT
