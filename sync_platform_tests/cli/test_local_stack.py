"""Start-up of the local stack (``dev``): every pipeline on the emulator is set up again, whatever
state any one of them is in.

``dev`` restarts the Stripe emulator, which forgets webhook endpoints, so the stack registers the
endpoints of the pipelines it serves again before Dagster starts. A pipeline that cannot be set up
(a secret this process cannot resolve, like the service account of a Google Sheets demo pipeline)
is reported in one warning line and skipped; the others are set up and the stack starts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql

from sync_platform.cli.local_stack import (
    SHEETS_SERVICE_ACCOUNT_ENV,
    STRIPE_KEY_ENV,
    LocalStack,
    listed_pipelines,
    local_stack,
    reprovision_local_webhooks,
)
from sync_platform.embedded_postgres import DATABASE_URL_ENV, HOME_ENV
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import ConnectorRegistry, default_registry
from sync_platform.pipelines import SECRET_KEY_ENV, PipelineCreate, PipelineStore
from sync_platform_tests.plugins.postgres import PgTestDatabase

RECEIVER_URL = "http://127.0.0.1:8787"
MISSING_KEY_ENV = "SYNC_PLATFORM_TEST_UNSET_STRIPE_KEY"

pytestmark = pytest.mark.filterwarnings(
    # The stripe SDK's own httpx transport posts raw bytes with ``data=`` (setup creates an endpoint).
    "ignore:Use 'content=<...>' to upload raw bytes/text content.:DeprecationWarning"
)


@pytest.fixture
def connector_registry() -> ConnectorRegistry:
    """The built-in connectors: these pipelines use the real ``stripe`` source."""
    return default_registry(include_entry_points=False)


@pytest.fixture
def store_environ(secret_key: str, stripe_emulator: RunningEmulator) -> dict[str, str]:
    """What ``dev`` has: the emulator's key, but no Sheets service account (only ``demo`` makes one)."""
    return {SECRET_KEY_ENV: secret_key, "STRIPE_API_KEY": stripe_emulator.secret_key}


@pytest.fixture
def stack(
    tmp_path: Path, pg: PgTestDatabase, stripe_emulator: RunningEmulator, pipeline_store: PipelineStore
) -> LocalStack:
    return LocalStack(
        home=tmp_path,
        app_url=pg.url,
        dagster_url=pg.url,
        warehouse_url=pg.url,
        stripe_base_url=stripe_emulator.base_url,
        stripe_key=stripe_emulator.secret_key,
        receiver_url=RECEIVER_URL,
        store=pipeline_store,
        emulator=stripe_emulator,
    )


def create(
    stack: LocalStack,
    pipeline_id: str,
    *,
    api_key_env: str = "STRIPE_API_KEY",
    destination: dict[str, Any] | None = None,
    base_url: str | None = None,
) -> None:
    source = {
        "api_key": {"env": api_key_env},
        "base_url": base_url or stack.stripe_base_url,
        "rate_limit": 1000,
        "webhook_url": stack.webhook_url(pipeline_id),
    }
    stack.store.create(
        PipelineCreate.model_validate(
            {
                "id": pipeline_id,
                "source": {"type": "stripe", "stripe": source},
                "destination": destination or {"type": "null"},
                "streams": ["customer"],
            }
        )
    )


def endpoint_urls(emulator: RunningEmulator) -> list[str]:
    return sorted(endpoint.url for endpoint in emulator.client().v1.webhook_endpoints.list().data)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "sync_platform.cli.local_stack" and record.levelno >= logging.WARNING
    ]


def create_healthy_and_broken(stack: LocalStack) -> None:
    """Two healthy pipelines on the emulator around two it cannot set up, and one elsewhere."""
    create(stack, "healthy")
    create(stack, "no_key", api_key_env=MISSING_KEY_ENV)
    sheets = {
        "type": "google_sheets",
        "google_sheets": {
            "service_account_json": {"env": SHEETS_SERVICE_ACCOUNT_ENV},
            "api_base_url": "http://127.0.0.1:9",
            "spreadsheet_title": "Stripe demo sheets",
        },
    }
    create(stack, "sheets_demo", destination=sheets)  # what `demo --destination google_sheets` leaves
    create(stack, "elsewhere", base_url="https://api.stripe.com")  # not on the emulator: left alone
    create(stack, "healthy_after")  # a healthy pipeline after the broken ones is still set up


def assert_healthy_set_up_and_broken_reported(
    stack: LocalStack, done: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    assert done == ["healthy", "healthy_after"]
    assert endpoint_urls(stack.emulator) == sorted(
        [stack.webhook_url("healthy"), stack.webhook_url("healthy_after")]
    )
    assert set(stack.store.get("healthy").source.config["webhook_secret"]) == {"encrypted"}
    assert stack.store.get("no_key").source.config.get("webhook_secret") is None
    no_key, sheets_demo = warnings_of(caplog)
    assert no_key.startswith("pipeline no_key: ")
    assert MISSING_KEY_ENV in no_key
    assert sheets_demo.startswith("pipeline sheets_demo: ")
    assert SHEETS_SERVICE_ACCOUNT_ENV in sheets_demo
    for line in (no_key, sheets_demo):
        assert "\n" not in line
        assert stack.stripe_key not in line


def test_broken_pipelines_are_reported_one_line_each_and_the_others_are_set_up_again(
    stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    create_healthy_and_broken(stack)

    with caplog.at_level(logging.WARNING):
        done = reprovision_local_webhooks(stack)

    assert_healthy_set_up_and_broken_reported(stack, done, caplog)


@pytest.mark.slow
def test_dev_start_up_on_the_real_local_stack_sets_up_what_it_can(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What ``dev`` runs before Dagster: the stack (embedded PostgreSQL under a fresh home, the
    emulator, the receiver), then the pipelines read once and set up again."""
    environ = {
        name: value
        for name, value in os.environ.items()
        if name not in (DATABASE_URL_ENV, STRIPE_KEY_ENV) and not name.startswith("SYNC_PLATFORM_")
    }
    environ[HOME_ENV] = str(tmp_path / "home")

    with local_stack(objects=50, environ=environ) as stack:
        create_healthy_and_broken(stack)
        caplog.clear()  # the stack's own start-up warnings (a busy port) are not the point here
        with caplog.at_level(logging.WARNING):
            pipelines = listed_pipelines(stack)
            done = reprovision_local_webhooks(stack, pipelines)

        assert [pipeline.id for pipeline in pipelines] == [
            "healthy", "no_key", "sheets_demo", "elsewhere", "healthy_after"
        ]  # fmt: skip
        assert_healthy_set_up_and_broken_reported(stack, done, caplog)


def test_setting_up_again_twice_keeps_working_and_warns_again(
    stack: LocalStack, stripe_emulator: RunningEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """``dev`` started twice on the same data: the healthy pipeline's endpoint is found, not doubled."""
    create(stack, "healthy")
    create(stack, "no_key", api_key_env=MISSING_KEY_ENV)

    with caplog.at_level(logging.WARNING):
        assert reprovision_local_webhooks(stack) == ["healthy"]
        assert reprovision_local_webhooks(stack) == ["healthy"]

    assert endpoint_urls(stripe_emulator) == [stack.webhook_url("healthy")]
    assert [line.split(":")[0] for line in warnings_of(caplog)] == ["pipeline no_key"] * 2


def test_pipelines_the_store_cannot_read_are_one_warning_line_and_nothing_raises(
    stack: LocalStack, pg: PgTestDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    create(stack, "healthy")
    with pg.connect() as connection:  # a row no code version can read (no connector type)
        connection.execute(
            sql.SQL("UPDATE {} SET source = '{{}}'::jsonb").format(stack.store.tables.pipelines)
        )

    with caplog.at_level(logging.WARNING):
        assert reprovision_local_webhooks(stack) == []

    [line] = warnings_of(caplog)
    assert line.startswith("could not read the pipelines: ")
    assert "\n" not in line
