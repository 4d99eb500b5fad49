"""The CLI drives the pipeline runner: every lane, one run at a time, failures recorded, deletion ends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from sync_platform.cli import EXIT_CONFLICT, EXIT_FAILED
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import Engine
from sync_platform.pipelines import PipelineStore
from sync_platform.pipelines.runner import Lane, PipelineRunner
from sync_platform_tests.cli.conftest import (
    DEST_URL_ENV,
    CliInvoker,
    destination_schema,
    drop_destination_schemas,
    get,
    postgres_rows,
    start_scenario_emulator,
    stripe_create_args,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase


@pytest.fixture
def emulator(request: pytest.FixtureRequest, pg: PgTestDatabase) -> Iterator[RunningEmulator]:
    yield start_scenario_emulator(request)
    drop_destination_schemas(pg)


def created(cli: CliInvoker, emulator: RunningEmulator, pg: PgTestDatabase) -> str:
    cli.ok(
        "pipelines", "create", "--id", "shop", *stripe_create_args(emulator, destination_schema(pg, "shop"))
    )
    return "shop"


def names(pg: PgTestDatabase) -> dict[str, str | None]:
    with pg.connect() as connection:
        found = connection.execute(
            f"SELECT id, _raw_data->>'name' FROM \"{destination_schema(pg, 'shop')}\".customer"
        ).fetchall()
    return {str(row[0]): row[1] for row in found}


def test_sync_batch_on_a_ready_pipeline_applies_updates_and_deletes_from_the_events_api(
    cli: CliInvoker, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = created(cli, emulator, pg)
    cli.ok("sync-batch", pipeline_id, "--loop", "0")
    assert get(cli, pipeline_id)["display_status"] == "ready"
    time.sleep(1.1 - time.time() % 1)  # into the next second: a change in the backfill's second ties
    renamed, deleted = (c["id"] for c in emulator.objects("customer")[:2])
    emulator.update("customer", renamed, {"name": "Renamed after the backfill"})
    emulator.delete("customer", deleted)

    result = cli.ok("sync-batch", pipeline_id, "--loop", "0")

    assert "poll lane of shop (ready)" in result.stderr
    customers = names(pg)
    assert customers[renamed] == "Renamed after the backfill"  # 1 of 1 update applied
    assert deleted not in customers  # 1 of 1 delete applied
    assert {("customer", i) for i in customers} == {
        ("customer", c["id"]) for c in emulator.objects("customer")
    }


def test_a_second_run_is_refused_before_it_sends_a_request_naming_the_holder(
    cli: CliInvoker, emulator: RunningEmulator, pg: PgTestDatabase
) -> None:
    pipeline_id = created(cli, emulator, pg)
    emulator.requests.clear()
    with PipelineStore(pg.url, schema=pg.schema) as store:
        holder = store.run_lock(
            pipeline_id, holder="sync-platform sync-batch (pid 4242 on laptop)", lane="backfill"
        )
        with holder:
            result = cli("sync-batch", pipeline_id, "--loop", "0")

    assert result.exit_code == EXIT_CONFLICT
    assert "is being synced by sync-platform sync-batch (pid 4242 on laptop) (backfill lane" in result.stderr
    assert emulator.requests.entries() == []
    assert get(cli, pipeline_id)["display_status"] == "setting_up"


def test_a_refused_key_parks_the_pipeline_and_the_cli_says_why(
    cli: CliInvoker, emulator: RunningEmulator, pg: PgTestDatabase, cli_environ: dict[str, str]
) -> None:
    pipeline_id = created(cli, emulator, pg)
    real_key = cli_environ["STRIPE_API_KEY"]
    cli_environ["STRIPE_API_KEY"] = "sk_test_" + "51ThisKeyWasRevoked00000000000000"

    failed = cli("sync-batch", pipeline_id, "--loop", "0")
    again = cli("sync-batch", pipeline_id, "--loop", "0")

    assert failed.exit_code == EXIT_FAILED
    assert "Error: [auth] Stripe GET /v1/account failed (HTTP 401" in failed.stderr
    assert "parked until you resume or edit the pipeline" in failed.stderr
    assert "51ThisKeyWasRevoked" not in failed.stderr
    shown = get(cli, pipeline_id)
    assert shown["display_status"] == "error"
    assert shown["error"]["kind"] == "auth"
    assert again.exit_code == EXIT_CONFLICT
    assert "it is parked after a failure" in again.stderr
    cli_environ["STRIPE_API_KEY"] = real_key
    cli.ok("pipelines", "resume", pipeline_id)
    cli.ok("sync-batch", pipeline_id, "--loop", "0")
    assert get(cli, pipeline_id)["display_status"] == "ready"


def test_a_pipeline_whose_teardown_cannot_run_ends_teardown_failed_and_delete_force_forgets_it(
    cli: CliInvoker, emulator: RunningEmulator, pg: PgTestDatabase, cli_environ: dict[str, str]
) -> None:
    pipeline_id = created(cli, emulator, pg)
    cli.ok("sync-batch", pipeline_id, "--loop", "0")
    cli.ok("pipelines", "delete", pipeline_id)
    cli_environ[DEST_URL_ENV] = "postgresql://nobody@127.0.0.1:1/gone"  # the warehouse is gone

    with PipelineStore(pg.url, schema=pg.schema, environ=cli_environ) as store:
        runner = PipelineRunner(store, Engine(), holder="the teardown job")
        for _ in range(5):
            list(runner.run(pipeline_id, [Lane.TEARDOWN]))
    shown = get(cli, pipeline_id)
    assert shown["display_status"] == "teardown_failed"
    assert "127.0.0.1" in shown["error"]["message"]

    forgotten = cli.ok("pipelines", "delete", pipeline_id, "--force")

    assert f"Pipeline {pipeline_id} is forgotten" in forgotten.stdout
    assert (
        f"may be left behind: PostgreSQL schema '{destination_schema(pg, pipeline_id)}'" in forgotten.stdout
    )
    listed = json.loads(cli.ok("pipelines", "list", "--all", "--json").stdout)
    assert [p["id"] for p in listed] == []
    assert postgres_rows(pg, destination_schema(pg, pipeline_id))  # nothing was dropped: it said so


def test_sync_batch_on_a_ready_pipeline_with_webhooks_applies_its_inbox_exactly(
    cli: CliInvoker, emulator: RunningEmulator, pg: PgTestDatabase, cli_environ: dict[str, str]
) -> None:
    cli_environ["TEST_WEBHOOK_SECRET"] = "whsec_" + "cli_live_lane_0123456789"
    args = stripe_create_args(emulator, destination_schema(pg, "shop"))
    cli.ok("pipelines", "create", "--id", "shop", *args, "--source.webhook-secret-env", "TEST_WEBHOOK_SECRET")
    cli.ok("sync-batch", "shop", "--loop", "0")
    renamed, deleted = (c["id"] for c in emulator.objects("customer")[:2])
    with PipelineStore(pg.url, schema=pg.schema, environ=cli_environ) as store:
        for change in (emulator.update("customer", renamed, {"name": "Renamed by a webhook"}),
                       emulator.delete("customer", deleted)):  # fmt: skip
            store.insert_inbox_event("shop", change.event["id"], change.event["type"], change.event)

        result = cli.ok("sync-batch", "shop", "--loop", "0")

        assert store.count_pending_inbox("shop") == 0
    assert "live lane of shop (ready)" in result.stderr
    assert "2 webhook events applied" in result.stderr
    customers = names(pg)
    assert customers[renamed] == "Renamed by a webhook"
    assert deleted not in customers
    assert set(customers) == {customer["id"] for customer in emulator.objects("customer")}
