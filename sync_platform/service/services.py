"""What every request handler of the service shares: the store, the engine, tokens, run history.

The service owns none of the behaviour behind these: pipelines are read and written through
``PipelineStore`` (which validates at the door and masks on the way out), runs go through
``PipelineRunner``, tokens through ``ApiTokens``. ``Services`` only holds them for the handlers,
and ``ServiceSettings`` says where the things the service links to live.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from sync_platform.engine import Engine
from sync_platform.pipelines import PipelineStore
from sync_platform.pipelines.api_tokens import ApiTokens
from sync_platform.pipelines.local_defaults import LocalStackDefaults
from sync_platform.pipelines.run_log import RunHistory, RunLog
from sync_platform.pipelines.runner import Retention
from sync_platform.service.pipeline_views import PipelineList
from sync_platform.service.run_session import RunSession

DAGSTER_URL_ENV = "SYNC_PLATFORM_DAGSTER_URL"
PUBLIC_URL_ENV = "SYNC_PLATFORM_PUBLIC_URL"


@dataclass(frozen=True)
class ServiceSettings:
    """Where the service's links point. ``dagster_url``: the Dagster UI (runs link to it);
    ``public_url``: how Stripe reaches this service (the webhook endpoint a pipeline page shows;
    default: the address the request came in on)."""

    dagster_url: str | None = None
    public_url: str | None = None
    retention: Retention = field(default_factory=Retention)
    local_defaults: LocalStackDefaults | None = None
    """Beside ``make dev`` on the emulator: what a new Stripe pipeline defaults to (as in the CLI)."""

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServiceSettings:
        environ = os.environ if environ is None else environ
        return cls(
            dagster_url=(environ.get(DAGSTER_URL_ENV) or "").rstrip("/") or None,
            public_url=(environ.get(PUBLIC_URL_ENV) or "").rstrip("/") or None,
            retention=Retention.from_environ(environ),
        )


@dataclass
class Services:
    """The store, engine and helpers the handlers use; the caller owns (and closes) the store."""

    store: PipelineStore
    engine: Engine
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    dagster_runs: RunHistory | None = None  # the Dagster instance's runs, when one is reachable
    tokens: ApiTokens = field(init=False)
    run_log: RunLog = field(init=False)
    active_runs: set[RunSession] = field(default_factory=set)  # cancelled when the service stops
    pipeline_list: PipelineList = field(default_factory=PipelineList)

    def __post_init__(self) -> None:
        self.tokens = ApiTokens(self.store)
        self.run_log = RunLog(self.store)

    def stop_runs(self) -> None:
        """Cancel every run in flight and wait for them (each stops at its next event)."""
        runs = list(self.active_runs)
        for run in runs:
            run.cancel()
        for run in runs:
            run.join()
        self.active_runs.clear()

    def holder(self, what: str) -> str:
        """How a run this service started is named in run locks and recorded errors."""
        return f"sync-platform serve ({what} {secrets.token_hex(4)} on {socket.gethostname()})"
