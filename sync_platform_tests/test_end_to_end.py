"""The whole platform with a real Dagster daemon: CLI -> lifecycle -> backfill -> webhooks -> pause,
resume -> delete -> teardown.

``dagster dev`` (webserver + daemon, dagster-postgres storage) runs as a subprocess against the
test PostgreSQL; the Stripe emulator and the webhook receiver run in this process. Every step is
asserted on what a user would see: the pipeline's status, rows in PostgreSQL, inbox rows, the
Dagster instance's partitions.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner
from cryptography.fernet import Fernet
from dagster._core.definitions.run_request import InstigatorType  # ticks: no public API in 1.13
from dagster._core.scheduler.instigation import TickStatus
from psycopg import sql

from sync_platform.cli import cli
from sync_platform.defs.sensors.inbox import INBOX_SENSOR
from sync_platform.embedded_postgres import ensure_database, with_scheme
from sync_platform.emulator import RunningEmulator
from sync_platform.pipelines import PipelineStatus, PipelineStore
from sync_platform.webhooks import create_app
from sync_platform.webhooks.server import WebhookServer, bind_socket

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = "e2e-shop"
DEST_SCHEMA = "e2e_dest"


def wait_until(what: str, check: Callable[[], Any], timeout: float, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    tail = log.read_text()[-6000:] if log.exists() else ""
    raise AssertionError(
        f"timed out after {timeout:.0f} s waiting for {what}\n--- dagster dev log ---\n{tail}"
    )


def inbox_sensor_ticks_after(instance: dg.DagsterInstance, after: float, *, at_least: int) -> list[Any]:
    """The inbox sensor's finished ticks that started after ``after``, once there are ``at_least``."""
    for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
        if state.instigator_name == INBOX_SENSOR:
            ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, after=after)
            finished = [tick for tick in ticks if tick.status in (TickStatus.SKIPPED, TickStatus.SUCCESS)]
            return finished if len(finished) >= at_least else []
    return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def receiver(pg_app: tuple[str, dict[str, str]]) -> Iterator[str]:
    app_url, environ = pg_app
    with PipelineStore(app_url, environ=environ) as store:
        server = WebhookServer(create_app(store), sock=bind_socket("127.0.0.1", 0))
        with server.in_background("webhook-receiver") as url:
            yield url


@pytest.fixture
def pg_app(
    postgres_url: str, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> tuple[str, dict[str, str]]:
    suffix = uuid.uuid4().hex[:8]
    app_url = ensure_database(postgres_url, f"e2e_app_{suffix}")
    dagster_url = ensure_database(postgres_url, f"e2e_dagster_{suffix}")
    warehouse_url = ensure_database(postgres_url, f"e2e_warehouse_{suffix}")
    environ = {
        "SYNC_PLATFORM_DATABASE_URL": app_url,
        "SYNC_PLATFORM_DAGSTER_DATABASE_URL": with_scheme(dagster_url, "postgresql+psycopg2"),
        "SYNC_PLATFORM_SECRET_KEY": Fernet.generate_key().decode(),
        "E2E_WAREHOUSE_URL": warehouse_url,
        "SYNC_PLATFORM_SENSOR_INTERVAL_SECONDS": "2",
    }
    return app_url, environ


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=0, counts={"customer": 60}, seed=5)


@pytest.fixture
def dagster_dev(
    tmp_path: Path, pg_app: tuple[str, dict[str, str]], emulator: RunningEmulator
) -> Iterator[tuple[dict[str, str], Path]]:
    _, environ = pg_app
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", home / "dagster.yaml")
    environ = {**environ, "DAGSTER_HOME": str(home), "E2E_STRIPE_KEY": emulator.secret_key}
    log = tmp_path / "dagster_dev.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
             "-p", str(free_port())],
            cwd=ROOT,
            env={**os.environ, **environ},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            yield environ, log
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def customer_name(warehouse_url: str, customer_id: str) -> str | None:
    with psycopg.connect(warehouse_url) as connection:
        try:
            row = connection.execute(
                sql.SQL("SELECT _raw_data->>'name' FROM {}.customer WHERE id = %s").format(
                    sql.Identifier(DEST_SCHEMA)
                ),
                (customer_id,),
            ).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return None if row is None else str(row[0])


def schema_exists(warehouse_url: str) -> bool:
    with psycopg.connect(warehouse_url) as connection:
        found = connection.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (DEST_SCHEMA,)).fetchone()
    return found is not None


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_platform_runs_a_pipeline_through_its_whole_lifecycle_with_a_real_daemon(
    pg_app: tuple[str, dict[str, str]],
    emulator: RunningEmulator,
    receiver: str,
    dagster_dev: tuple[dict[str, str], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app_url, _ = pg_app
    environ, log = dagster_dev
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    def sync_platform(*args: str) -> str:
        result = runner.invoke(cli, ["--database-url", app_url, *args], env=environ)
        assert result.exit_code == 0, result.output
        return result.output

    sync_platform(
        "pipelines", "create", "--id", PIPELINE, "--streams", "customer",
        "--source", "stripe", "--source.api-key-env", "E2E_STRIPE_KEY",
        "--source.base-url", emulator.base_url,
        "--source.webhook-url", f"{receiver}/webhooks/{PIPELINE}",
        "--destination", "postgres", "--destination.url-env", "E2E_WAREHOUSE_URL",
        "--destination.schema", DEST_SCHEMA,
    )  # fmt: skip
    warehouse = environ["E2E_WAREHOUSE_URL"]
    with PipelineStore(app_url, environ=environ) as store:
        status = lambda: store.get(PIPELINE).status  # noqa: E731
        wait_until(
            "the backfill to make the pipeline ready", lambda: status() is PipelineStatus.READY, 300, log
        )
        customers = emulator.objects("customer")
        with psycopg.connect(warehouse) as connection:
            count = connection.execute(
                sql.SQL("SELECT count(*) FROM {}.customer").format(sql.Identifier(DEST_SCHEMA))
            )
            assert count.fetchone() == (len(customers),)

        target = customers[0]["id"]
        emulator.update("customer", target, {"name": "Renamed while active"})
        wait_until(
            "the webhook to update the row",
            lambda: customer_name(warehouse, target) == "Renamed while active",
            120,
            log,
        )

        sync_platform("pipelines", "pause", PIPELINE)
        wait_until("the pipeline to pause", lambda: status() is PipelineStatus.PAUSED, 60, log)
        emulator.update("customer", target, {"name": "Renamed while paused"})
        wait_until(
            "the paused pipeline's webhook in the inbox", lambda: store.count_pending_inbox(PIPELINE), 60, log
        )
        landed = time.time()
        instance = dg.DagsterInstance.from_config(environ["DAGSTER_HOME"])
        try:
            ticks = wait_until(
                "three inbox-sensor ticks after the paused pipeline's event landed",
                lambda: inbox_sensor_ticks_after(instance, landed, at_least=3),
                120,
                log,
            )
        finally:
            instance.dispose()
        assert [tick.run_ids for tick in ticks] == [[]] * len(ticks)  # each saw the event, none ran it
        assert customer_name(warehouse, target) == "Renamed while active"
        assert store.count_pending_inbox(PIPELINE) == 1

        sync_platform("pipelines", "resume", PIPELINE)
        wait_until(
            "the catch-up run after resume",
            lambda: customer_name(warehouse, target) == "Renamed while paused",
            120,
            log,
        )
        assert store.count_pending_inbox(PIPELINE) == 0

        sync_platform("pipelines", "delete", PIPELINE)
        wait_until("teardown", lambda: store.get(PIPELINE).torn_down_at is not None, 120, log)
        assert not schema_exists(warehouse)
        endpoints = emulator.store.account(None).webhook_endpoints.values()
        assert not [e for e in endpoints if PIPELINE in e["url"]]  # teardown removed the managed endpoint
        instance = dg.DagsterInstance.from_config(environ["DAGSTER_HOME"])
        try:
            wait_until(
                "the partition to be removed",
                lambda: PIPELINE not in instance.get_dynamic_partitions("stripe_pipelines"),
                60,
                log,
            )
        finally:
            instance.dispose()
