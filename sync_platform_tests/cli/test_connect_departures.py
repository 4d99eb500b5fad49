"""Connect accounts leaving and coming back, end to end through the CLI: the real emulator over
HTTP, its webhook events in the pipeline's inbox, the runner's lanes, real PostgreSQL rows.

- a deauthorized account's rows stay, unless the pipeline opted in (``purge_deauthorized``): then
  they leave the destination, the other accounts' rows stay, and the status says so;
- a deauthorized account of a hand-kept list is asked nothing by any lane, and authorized again
  it is backfilled from scratch;
- ``account.updated`` moves an account out of an ``account_metadata`` filter (no more reads, rows
  stay) or into it (backfilled).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.pipelines import PipelineStore
from sync_platform_tests.cli.conftest import (
    DEST_URL_ENV,
    CliInvoker,
    destination_schema,
    drop_destination_schemas,
    get,
)
from sync_platform_tests.plugins.postgres import PgTestDatabase

SECRET_ENV = "TEST_WEBHOOK_SECRET"
STREAMS = ("customer", "charge")


@pytest.fixture
def platform(
    stripe_emulator_factory: Callable[..., RunningEmulator], cli_environ: dict[str, str], pg: PgTestDatabase
) -> Iterator[RunningEmulator]:
    emulator = stripe_emulator_factory(objects=20, connected_accounts=3, connected_objects=12, seed=41)
    cli_environ["STRIPE_API_KEY"] = emulator.secret_key
    cli_environ[SECRET_ENV] = "whsec_" + "connect_departures_0123456789"
    yield emulator
    drop_destination_schemas(pg)


def create(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, pipeline_id: str, *extra: str
) -> None:
    """A Connect pipeline that takes webhooks (its events are put in its inbox by ``deliver``)."""
    cli.ok(
        "pipelines", "create", "--id", pipeline_id,
        "--source", "stripe",
        "--source.api-key-env", "STRIPE_API_KEY",
        "--source.base-url", platform.base_url,
        "--source.rate-limit", "1000",
        "--source.webhook-secret-env", SECRET_ENV,
        *extra,
        "--destination", "postgres",
        "--destination.url-env", DEST_URL_ENV,
        "--destination.schema", destination_schema(pg, pipeline_id),
        "--streams", ",".join(STREAMS),
    )  # fmt: skip


def deliver(pg: PgTestDatabase, environ: dict[str, str], pipeline_id: str, *events: dict[str, Any]) -> None:
    """What the webhook receiver does with a verified event: one inbox row each."""
    with PipelineStore(pg.url, schema=pg.schema, environ=environ) as store:
        for event in events:
            store.insert_inbox_event(pipeline_id, event["id"], event["type"], event)


def rows_per_account(pg: PgTestDatabase, pipeline_id: str) -> Counter[str]:
    schema = destination_schema(pg, pipeline_id)
    counted: Counter[str] = Counter()
    with pg.connect() as connection:
        for stream in STREAMS:
            found = connection.execute(f'SELECT _account_id FROM "{schema}"."{stream}"').fetchall()
            counted.update(str(row[0]) for row in found)
    return counted


def statuses(cli: CliInvoker, pipeline_id: str) -> dict[str, dict[str, Any]]:
    accounts: dict[str, dict[str, Any]] = get(cli, pipeline_id)["account_status"]["accounts"]
    return accounts


def test_a_deauthorized_accounts_rows_stay_unless_the_pipeline_opted_in_to_purge_them(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, cli_environ: dict[str, str]
) -> None:
    for pipeline_id in ("keeps", "purges"):
        create(cli, pg, platform, pipeline_id, "--source.connected-accounts", "all")
    cli.ok("pipelines", "update", "purges", "--source.purge-deauthorized", "true")
    for pipeline_id in ("keeps", "purges"):
        cli.ok("sync-batch", pipeline_id, "--loop", "0")
    before = rows_per_account(pg, "purges")
    left = platform.connected_account_ids[1]
    assert before[left] > 0
    gone = platform.deauthorize_account(left).event
    for pipeline_id in ("keeps", "purges"):
        deliver(pg, cli_environ, pipeline_id, gone)

    kept = cli.ok("sync-batch", "keeps", "--loop", "0")
    purged = cli.ok("sync-batch", "purges", "--loop", "0")

    assert "purged" not in kept.output
    assert rows_per_account(pg, "keeps") == before  # off by default: its rows stay
    assert statuses(cli, "keeps")[left] == {"status": "deauthorized"}
    assert f"purged {before[left]} row(s) of 1 deauthorized account(s) ({left})" in purged.output
    assert rows_per_account(pg, "purges") == {a: n for a, n in before.items() if a != left}
    assert statuses(cli, "purges")[left] == {"status": "deauthorized", "purged": True}
    assert f"{left}: deauthorized (rows purged)" in cli.ok("pipelines", "get", "purges").stdout

    again = cli.ok("sync-batch", "purges", "--lane", "reconcile", "--loop", "0")
    assert "purged" not in again.output  # recorded: never purged twice

    cli.ok("pipelines", "update", "keeps", "--source.purge-deauthorized", "true")  # opted in later
    later = cli.ok("sync-batch", "keeps", "--lane", "reconcile", "--loop", "0")
    assert f"purged {before[left]} row(s)" in later.output
    assert rows_per_account(pg, "keeps") == rows_per_account(pg, "purges")


def test_a_deauthorized_account_of_a_hand_kept_list_is_asked_nothing_until_authorized_again(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, cli_environ: dict[str, str]
) -> None:
    accounts = platform.connected_account_ids
    create(
        cli, pg, platform, "listed",
        "--source.connected-accounts", json.dumps(accounts),
        "--source.poll-events", "true",
        "--source.purge-deauthorized", "true",
    )  # fmt: skip
    cli.ok("sync-batch", "listed", "--loop", "0")
    before = rows_per_account(pg, "listed")
    left = accounts[0]
    deliver(pg, cli_environ, "listed", platform.deauthorize_account(left).event)
    platform.requests.clear()

    cli.ok("sync-batch", "listed", "--loop", "0")  # the live lane applies it, then the events poll
    cli.ok("sync-batch", "listed", "--lane", "reconcile", "--loop", "0")
    cli.ok("sync-batch", "listed", "--loop", "0")

    asked = {entry.account for entry in platform.requests.entries()}
    assert left not in asked  # no lane asks it (each would be refused with a 403)
    assert set(accounts[1:]) <= asked  # the others are still polled
    shown = get(cli, "listed")
    assert shown["display_status"] == "ready"
    assert shown["account_status"]["accounts"][left] == {"status": "deauthorized", "purged": True}
    assert shown["account_status"]["healthy"] == 2
    assert left not in rows_per_account(pg, "listed")

    deliver(pg, cli_environ, "listed", platform.authorize_account(left).event)
    cli.ok("sync-batch", "listed", "--loop", "0")  # the live run backfills it
    assert rows_per_account(pg, "listed") == before
    assert statuses(cli, "listed")[left] == {"status": "backfilling"}  # its old progress is gone
    platform.requests.clear()
    cli.ok("sync-batch", "listed", "--lane", "reconcile", "--loop", "0")  # its lanes, from scratch
    assert any(e.account == left and e.path == "/v1/customers" for e in platform.requests.entries())
    assert statuses(cli, "listed")[left] == {"status": "ready"}
    assert rows_per_account(pg, "listed") == before


def test_account_updated_moves_an_account_out_of_and_into_the_metadata_filter(
    cli: CliInvoker, pg: PgTestDatabase, platform: RunningEmulator, cli_environ: dict[str, str]
) -> None:
    stays, leaves, joins = platform.connected_account_ids
    for account in (stays, leaves):
        platform.update_account(account, {"tier": "gold"})
    create(
        cli, pg, platform, "gold",
        "--source.connected-accounts", "all",
        "--source.account-metadata", '{"tier": "gold"}',
        "--source.purge-deauthorized", "true",
    )  # fmt: skip
    cli.ok("sync-batch", "gold", "--loop", "0")
    before = rows_per_account(pg, "gold")
    assert joins not in before
    assert before[leaves] > 0

    out = platform.update_account(leaves, {"tier": "silver"}).event
    into = platform.update_account(joins, {"tier": "gold"}).event
    deliver(pg, cli_environ, "gold", out, into)
    cli.ok("sync-batch", "gold", "--loop", "0")

    after = rows_per_account(pg, "gold")
    assert after[joins] > 0  # backfilled by the live run that applied its update
    assert after[leaves] == before[leaves]  # left the set: no longer read, and not purged
    assert set(statuses(cli, "gold")) == {stays, joins}
    platform.requests.clear()
    time.sleep(1.05 - time.time() % 1)  # a new run lists the accounts again from its next second on
    cli.ok("sync-batch", "gold", "--lane", "reconcile", "--loop", "0")
    asked = {entry.account for entry in platform.requests.entries()}
    assert leaves not in asked
    assert joins in asked  # its own lanes are planned by the reconcile's backfill
    assert statuses(cli, "gold")[joins] == {"status": "ready"}
