"""The root of every error sync_platform raises on purpose.

Errors cross process boundaries (Dagster runs steps in subprocesses and pickles what they raise), and
subclasses take structured constructor arguments, so the root defines ``__reduce__`` to rebuild an
instance from its message and attributes instead of re-calling ``__init__`` with the message alone.
Each layer adds subclasses that also inherit the fitting builtin (``ValueError``, ``LookupError``...),
so callers can catch either the platform type or the Python one.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from enum import StrEnum
from typing import Any


class FailureKind(StrEnum):
    """Why something failed, as the platform acts on it (never judged from a message's wording).

    Connectors raise errors that carry a kind (``failure_kind``) and put it on the failures they
    report as messages (``connection_status: failed``, ``stream_status: error``). The pipeline runner
    parks a pipeline on a kind that retrying cannot fix, and retries the others with backoff.
    """

    AUTH = "auth"  # the credentials were refused (a wrong or revoked key, a bad password)
    PERMISSION = "permission"  # the credentials are valid but may not do this
    CONFIG = "config"  # the configuration is invalid (caught before or during the run)
    INVALID_REQUEST = "invalid_request"  # the system rejected a request as malformed, every time
    NOT_FOUND = "not_found"  # something the configuration names does not exist
    RATE_LIMITED = "rate_limited"  # still throttled after the client's own retries
    TRANSIENT = "transient"  # network trouble, timeouts, 5xx, a database that went away
    INTERNAL = "internal"  # an unexpected exception: a bug, retried a bounded number of times

    @property
    def parks(self) -> bool:
        """Whether retrying cannot help, so the pipeline waits for the user (resume or edit)."""
        return self in _PARKING_KINDS


_PARKING_KINDS = frozenset(
    {
        FailureKind.AUTH,
        FailureKind.PERMISSION,
        FailureKind.CONFIG,
        FailureKind.INVALID_REQUEST,
        FailureKind.NOT_FOUND,
    }
)


def failure_kind_of(error: BaseException) -> FailureKind:
    """The kind of ``error``: its own ``failure_kind``, else the first one along its causes.

    Types decide, never messages: a ``ConfigError`` is ``config``; Python's connection, timeout and
    OS errors are ``transient``; anything else that carries no kind is ``internal``.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        kind = getattr(current, "failure_kind", None)
        if isinstance(kind, FailureKind):
            return kind
        if isinstance(current, ConfigError):
            return FailureKind.CONFIG
        if isinstance(current, ConnectionError | TimeoutError | OSError):
            return FailureKind.TRANSIENT
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return FailureKind.INTERNAL


def _rebuild_error(cls: type[SyncPlatformError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class SyncPlatformError(Exception):
    """Base class: the message says what failed, for which object, and what to do next."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class ConfigError(SyncPlatformError, ValueError):
    """A user-supplied configuration is invalid; ``field`` names the offending path."""

    def __init__(self, message: str, *, field: str | None = None, connector: str | None = None) -> None:
        self.field = field
        self.connector = connector
        super().__init__(message)


def did_you_mean(value: str, known: Collection[str]) -> str:
    """A ' Did you mean X?' hint for a misspelt name, or '' when nothing is close."""
    close = difflib.get_close_matches(value, sorted(known), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""
