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
from typing import Any


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
