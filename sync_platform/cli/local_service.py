"""The HTTP service of ``sync-platform dev``: the API and pipeline console over the local stack.

It runs on a thread beside the stack's own webhook receiver, on a stable port (8080, or a free one
when that is taken), reads Dagster's runs from the stack's instance so run lists link to the
Dagster UI, and comes with an admin token made for the session: printed once, revoked when the
stack stops, so ``make dev`` leaves no token behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sync_platform.cli.local_stack import LocalStack, _stable_port
from sync_platform.engine import Engine
from sync_platform.pipelines.api_tokens import ApiTokens, TokenScope
from sync_platform.pipelines.local_defaults import LocalStackDefaults
from sync_platform.service import (
    DEFAULT_PORT,
    Services,
    ServiceServer,
    ServiceSettings,
    bind_socket,
    create_service_app,
)


@dataclass(frozen=True)
class LocalService:
    url: str
    token: str


@contextmanager
def local_service(stack: LocalStack, *, dagster_url: str) -> Iterator[LocalService]:
    from sync_platform.defs.run_history import DagsterRunHistory

    history = DagsterRunHistory(dagster_url=dagster_url)
    services = Services(
        stack.store,
        Engine(),
        settings=ServiceSettings(
            dagster_url=dagster_url,
            local_defaults=(
                LocalStackDefaults(stack.stripe_base_url, stack.receiver_url) if stack.uses_emulator else None
            ),
        ),
        dagster_runs=history,
    )
    tokens = ApiTokens(stack.store)
    issued = tokens.create(f"dev {datetime.now(UTC):%Y-%m-%d %H:%M:%S}", TokenScope.ADMIN)
    sock = bind_socket("127.0.0.1", _stable_port(DEFAULT_PORT, "pipeline console"))
    try:
        with ServiceServer(create_service_app(services), sock=sock).in_background("service") as url:
            yield LocalService(url, issued.secret)
    finally:
        tokens.revoke(issued.token.id)
        history.close()
