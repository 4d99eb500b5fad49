"""Checks that a pipeline's source and destination can reach their systems (``Engine.check``).

The CLI's ``pipelines create`` / ``check`` and the HTTP API's ``POST /pipelines`` / ``/check`` use
this one module, so both refuse the same pipelines with the same words. Each side is checked on its
own, so a connector that raises instead of reporting ``failed`` does not hide the other side's
answer. A config the connector's spec refuses is still bad input (a ``ConfigError``, exit 2), not a
failed check; any other exception from a connector is reported as that side's failure, redacted.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from sync_platform.engine import Engine, EngineError, blocking
from sync_platform.errors import ConfigError, SyncPlatformError
from sync_platform.pipelines.connector_configs import ConnectorConfigs
from sync_platform.pipelines.errors import TransitionError
from sync_platform.pipelines.model import Pipeline, PipelineCreate
from sync_platform.pipelines.run_config import RevealedPipelineConfig
from sync_platform.pipelines.states import DesiredStatus
from sync_platform.pipelines.store import PipelineStore
from sync_platform.protocol import ConnectionStatus, PipelineConfig
from sync_platform.redaction import redact

Side = Literal["source", "destination"]
SIDES: tuple[Side, ...] = ("source", "destination")


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
    """A connector check failed, so the pipeline was not stored (exit 1; HTTP 422: the request is
    well formed, but what it names cannot be reached)."""

    http_status = 422

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


def revealed_request(configs: ConnectorConfigs, request: PipelineCreate) -> RevealedPipelineConfig:
    """The request's configs with env references resolved here, for a check before anything is
    stored (a ``MissingEnvSecretError`` when a referenced variable is not set in this process)."""
    return RevealedPipelineConfig.model_validate(
        {
            "source": configs.reveal("source", request.source).model_dump(),
            "destination": configs.reveal("destination", request.destination).model_dump(),
        }
    )


def create_checked(
    store: PipelineStore, engine: Engine, request: PipelineCreate, *, skip_check: bool
) -> tuple[Pipeline, list[CheckResult]]:
    """Create a pipeline the way every entry point does: the store's offline checks first (configs,
    streams), then both connectors' connection checks unless ``skip_check``, then store it.
    Nothing is stored when any step refuses."""
    store.validate_create(request)
    results = [] if skip_check else check_connectors(engine, revealed_request(store.configs, request))
    require_checks_pass(results)
    return store.create(request), results


def check_pipeline(
    store: PipelineStore, engine: Engine, pipeline_id: str, *, only: Side | None = None
) -> list[CheckResult]:
    """Check a stored pipeline's connectors with its secrets resolved in this process; a deleted
    pipeline is refused (``TransitionError``): it is only ever torn down."""
    pipeline = store.get(pipeline_id)
    if pipeline.desired_status is DesiredStatus.DELETED:
        raise TransitionError(
            f"Pipeline {pipeline_id!r} is deleted, and deleted is terminal: it cannot be checked.",
            pipeline_id=pipeline_id,
            current=DesiredStatus.DELETED,
            requested="checked",
        )
    return check_connectors(engine, store.resolve_secrets(pipeline), only=only)
