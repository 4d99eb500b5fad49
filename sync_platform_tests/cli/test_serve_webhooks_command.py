"""``sync-platform serve-webhooks`` as a real process: it serves, logs JSON, and stops on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import IO, Any

import httpx
import pytest

from sync_platform.pipelines import SECRET_KEY_ENV, PipelineStore
from sync_platform_tests.plugins.pipelines import WEBHOOK_SECRET
from sync_platform_tests.plugins.postgres import PgTestDatabase
from sync_platform_tests.webhooks.stripe_webhooks import create_pipeline, signed, stripe_event

pytestmark = pytest.mark.slow


def json_lines(stream: IO[str]) -> Iterator[dict[str, Any]]:
    for line in stream:
        if line.startswith("{"):
            yield json.loads(line)


@pytest.fixture
def receiver_process(
    pg: PgTestDatabase, pipeline_store: PipelineStore, store_environ: dict[str, str]
) -> Iterator[subprocess.Popen[str]]:
    env = {
        **os.environ,
        SECRET_KEY_ENV: store_environ[SECRET_KEY_ENV],
        "SYNC_PLATFORM_DATABASE_URL": pg.url,
        "SYNC_PLATFORM_DATABASE_SCHEMA": pg.schema,
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from sync_platform.cli import main; main()", "serve-webhooks", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_serve_webhooks_stores_signed_events_and_stops_gracefully_on_ctrl_c(
    receiver_process: subprocess.Popen[str], pipeline_store: PipelineStore
) -> None:
    create_pipeline(pipeline_store, "shop", webhook_secret=WEBHOOK_SECRET)
    assert receiver_process.stderr is not None
    assert receiver_process.stdout is not None
    address = receiver_process.stdout.readline()  # --port 0: the chosen port, in plain words
    found = re.fullmatch(
        r"Receiving Stripe webhooks at http://127\.0\.0\.1:(\d+)/webhooks/<pipeline_id>\n", address
    )
    assert found is not None, address
    port = int(found[1])
    logs = json_lines(receiver_process.stderr)
    body, signature = signed(stripe_event("evt_1"))

    response = httpx.post(
        f"http://127.0.0.1:{port}/webhooks/shop", content=body, headers={"Stripe-Signature": signature}
    )

    assert response.json() == {"received": True, "duplicate": False}
    request_log = next(line for line in logs if line.get("outcome"))
    assert (request_log["pipeline_id"], request_log["event_id"], request_log["status"]) == (
        "shop",
        "evt_1",
        200,
    )
    receiver_process.send_signal(signal.SIGINT)
    assert receiver_process.wait(timeout=30) == 0
    rest = list(logs)
    stopped = next(line for line in rest if line["message"] == "webhook receiver stopped")
    assert stopped["counts"]["accepted"] == 1
    assert any(line["message"] == "webhook receiver exited" for line in rest)
    assert pipeline_store.count_pending_inbox("shop") == 1
