"""A connected account revoked without its webhook, end to end through the CLI: the real emulator
over HTTP, the runner's lanes, real PostgreSQL rows. The events poll parks it alone, the others'
changes land, the pipeline stays ready, ``pipelines get`` shows the account as ``error`` with its
cause, and the next cycles do not ask it (request log)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.sources.stripe.events import EVENTS_PATH
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
    stripe_emulator_factory: Callable[..., RunningEmulator], cli_environ: dict[str, str], pg: PgTestDatabase
) -> Iterator[RunningEmulator]:
    emulator = stripe_emulator_factory(objects=10, connected_accounts=3, connected_objects=5, seed=47)
    cli_environ["STRIPE_API_KEY"] = emulator.secret_key
    yield emulator
    drop_destination_schemas(pg)


def customers(pg: PgTestDatabase, pipeline_id: str) -> set[str]:
    with pg.connect() as connection:
        found = connection.execute(f'SELECT id FROM "{destination_schema(pg, pipeline_id)}"."customer"')
        return {str(row[0]) for row in found.fetchall()}


def test_a_revoked_account_is_parked_by_the_poll_and_shown_with_its_cause(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator
) -> None:
    accounts = platform.connected_account_ids
    cli.ok(
        "pipelines", "create", "--id", "polled",
        "--source", "stripe",
        "--source.api-key-env", "STRIPE_API_KEY",
        "--source.base-url", platform.base_url,
        "--source.rate-limit", "1000",
        "--source.connected-accounts", json.dumps(accounts),
        "--source.poll-events", "true",
        "--source.poll-connected-accounts", "all",
        "--destination", "postgres",
        "--destination.url-env", DEST_URL_ENV,
        "--destination.schema", destination_schema(pg, "polled"),
        "--streams", "customer",
    )  # fmt: skip
    cli.ok("sync-batch", "polled", "--loop", "0")
    revoked, *others = accounts
    changes = {platform.create("customer", account_id=account).object["id"] for account in others}
    platform.deauthorize_account(revoked)  # no webhook tells the pipeline
    platform.requests.clear()

    cli.ok("sync-batch", "polled", "--loop", "0")

    assert changes <= customers(pg, "polled")
    refused = {(e.path, e.status) for e in platform.requests.entries() if e.account == revoked}
    assert (EVENTS_PATH, 403) in refused
    platform.requests.clear()
    cli.ok("sync-batch", "polled", "--loop", "0")
    assert revoked not in {e.account for e in platform.requests.entries()}  # not every cycle
    assert set(others) <= {e.account for e in platform.requests.entries() if e.path == EVENTS_PATH}
    shown = get(cli, "polled")
    assert shown["display_status"] == "ready"
    entry = shown["account_status"]["accounts"][revoked]
    assert (entry["status"], entry["failure_kind"]) == ("error", "permission")
    assert "revoked" in entry["cause"]
    assert shown["account_status"]["healthy"] == 2
    assert f"{revoked}: error [permission]" in cli.ok("pipelines", "get", "polled").stdout
