"""``pipelines get`` shows each Connect account's status, read from the stored checkpoints: a
parked account with its cause, the healthy count, and every account in ``--json``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.emulator.faults import FaultConfig, ScriptedFailure
from sync_platform_tests.cli.conftest import (
    DEST_URL_ENV,
    CliInvoker,
    destination_schema,
    drop_destination_schemas,
    get,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase


@pytest.fixture
def platform(
    stripe_emulator_factory: Callable[..., RunningEmulator], cli_environ: dict[str, str]
) -> RunningEmulator:
    emulator = stripe_emulator_factory(objects=20, connected_accounts=3, connected_objects=10, seed=5)
    cli_environ["STRIPE_API_KEY"] = emulator.secret_key
    return emulator


def create_with_one_account_failing(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, pipeline_id: str
) -> None:
    """A Connect pipeline over every account, one at a time and without retries, whose second
    ``/v1/customers`` page answers 400: that account is parked, the others finish."""
    cli.ok(
        "pipelines", "create", "--id", pipeline_id,
        "--source", "stripe",
        "--source.api-key-env", "STRIPE_API_KEY",
        "--source.base-url", platform.base_url,
        "--source.rate-limit", "1000",
        "--source.connected-accounts", "all",
        "--source.max-concurrency", "1",
        "--source.max-retries", "0",
        "--destination", "postgres",
        "--destination.url-env", DEST_URL_ENV,
        "--destination.schema", destination_schema(pg, pipeline_id),
        "--streams", "customer",
    )  # fmt: skip
    platform.set_faults(FaultConfig(scripted=(ScriptedFailure(path="/v1/customers", nth=2, status=400),)))


def test_get_shows_each_accounts_status_and_how_many_are_healthy(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, request: pytest.FixtureRequest
) -> None:
    request.addfinalizer(lambda: drop_destination_schemas(pg))
    create_with_one_account_failing(cli, pg, platform, "market")
    cli.ok("sync", "market")

    status = get(cli, "market")["account_status"]
    assert status["total"] == 3
    assert status["counts"] == {"ready": 2, "backfilling": 0, "error": 1, "deauthorized": 0}
    assert status["healthy"] == 2
    (parked,) = [a for a, entry in status["accounts"].items() if entry["status"] == "error"]
    assert status["accounts"][parked]["failure_kind"] == "invalid_request"
    assert set(status["accounts"]) == set(platform.connected_account_ids)

    table = cli.ok("pipelines", "get", "market").stdout
    assert "2 of 3 healthy" in table
    assert parked in table


def test_the_reconcile_lane_retries_a_parked_account_of_a_ready_pipeline(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, request: pytest.FixtureRequest
) -> None:
    """A transient failure parks one account while the pipeline becomes ready; the next reconcile
    reads exactly what that account left, and every account ends ready with its rows."""
    request.addfinalizer(lambda: drop_destination_schemas(pg))
    create_with_one_account_failing(cli, pg, platform, "heal")
    cli.ok("sync-batch", "heal", "--loop", "0")
    parked = get(cli, "heal")
    assert parked["status"] == "ready"
    assert parked["account_status"]["counts"]["error"] == 1
    platform.set_faults(FaultConfig())
    platform.requests.clear()

    cli.ok("sync-batch", "heal", "--lane", "reconcile", "--loop", "0")

    healed = get(cli, "heal")["account_status"]
    assert healed["counts"] == {"ready": 3, "backfilling": 0, "error": 0, "deauthorized": 0}
    (was_parked,) = [a for a, e in parked["account_status"]["accounts"].items() if e["status"] == "error"]
    listed = Counter(e.account for e in platform.requests.entries() if e.path == "/v1/customers")
    assert listed[was_parked] >= 1
    # every other lane costs one page at most: what was created since its backfill ended
    assert all(n == 1 for account, n in listed.items() if account != was_parked), listed
    with pg.connect() as connection:
        held = {
            row[0]
            for row in connection.execute(
                f'SELECT DISTINCT _account_id FROM "{destination_schema(pg, "heal")}".customer'
            ).fetchall()
        }
    assert set(platform.connected_account_ids) <= held
