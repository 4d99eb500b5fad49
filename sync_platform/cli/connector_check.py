"""Checks that a pipeline's source and destination can reach their systems (``Engine.check``).

Each side is checked on its own, so a connector that raises instead of reporting ``failed`` does
not hide the other side's answer. A config the connector's spec refuses is still bad input (a
``ConfigError``, exit 2), not a failed check; any other exception from a connector is reported as
that side's failure, redacted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sync_platform.cli.connector_flags import SIDES, Side
from sync_platform.engine import Engine, EngineError, blocking
from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.protocol import ConnectionStatus, PipelineConfig
from sync_platform.redaction import redact


@dataclass(frozen=True)
class CheckResult:
    """One side's answer: did it connect, and the connector's message if not."""

    side: Side
    connector: str
    succeeded: bool
    message: str | None = None

    def describe(self) -> str:
        """``"Source check failed (stripe): invalid api key"`` (the reference's wording)."""
        return f"{self.side.capitalize()} check failed ({self.connector}): {self.message or 'no message'}"

    def to_json(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "connector": self.connector,
            "status": "succeeded" if self.succeeded else "failed",
            "message": self.message,
        }


class ConnectorCheckError(SyncPlatformError, RuntimeError):
    """A connector check failed, so the pipeline was not stored (exit 1)."""

    def __init__(self, failures: list[CheckResult]) -> None:
        self.failures = failures
        summary = "; ".join(failure.describe() for failure in failures)
        stop = "" if summary.endswith((".", "?", "!")) else "."  # connector messages often end a sentence
        super().__init__(
            f"{summary}{stop} Nothing was stored: fix the config, or pass --skip-check to store it "
            "without checking."
        )


def check_connectors(
    engine: Engine, config: PipelineConfig, *, only: Side | None = None
) -> list[CheckResult]:
    """Both sides' (or ``only`` one side's) connection status, checked concurrently."""
    sides = [side for side in SIDES if only in (None, side)]
    return blocking.run(_check(engine, config, sides))


async def _check(engine: Engine, config: PipelineConfig, sides: list[Side]) -> list[CheckResult]:
    outcomes = await asyncio.gather(
        *(engine.check(config, only=side) for side in sides), return_exceptions=True
    )
    results: list[CheckResult] = []
    for side, outcome in zip(sides, outcomes, strict=True):
        connector = config.source.type if side == "source" else config.destination.type
        if isinstance(outcome, ConfigError | EngineError | LookupError):
            raise outcome  # the config itself is wrong, or the connector is not installed
        if isinstance(outcome, BaseException):
            if not isinstance(outcome, Exception):
                raise outcome  # cancellation, Ctrl-C
            text = str(outcome)
            message = redact(f"{type(outcome).__name__}: {text}" if text else type(outcome).__name__)
            results.append(CheckResult(side, connector, False, message))
            continue
        [status] = outcome
        payload = status.connection_status
        succeeded = payload.status is ConnectionStatus.SUCCEEDED
        results.append(
            CheckResult(side, connector, succeeded, redact(payload.message) if payload.message else None)
        )
    return results


def require_checks_pass(results: list[CheckResult]) -> None:
    failures = [result for result in results if not result.succeeded]
    if failures:
        raise ConnectorCheckError(failures)
