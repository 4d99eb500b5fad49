"""Per-account isolation in the live lanes, through the real runner into PostgreSQL: a connected
account whose access is revoked with no webhook to say so is parked by the events poll alone (the
others' changes land, the pipeline stays ready, the account shows ``error`` with its cause), later
polls leave it alone (request log), a reconcile that finds it still refused keeps it parked
without failing, and one that finds it back applies what it missed and lifts the park."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest

from sync_platform.emulator import RunningEmulator
from sync_platform.engine import Engine
from sync_platform.pipelines import PipelineStore
from sync_platform.pipelines.account_status import account_status
from sync_platform.pipelines.runner import Lane, PipelineRunner
from sync_platform.pipelines.states import PipelineStatus
from sync_platform.protocol import utc_now
from sync_platform.sources.stripe.events import EVENTS_PATH
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain, rows
from sync_platform_tests.plugins.postgres import PgTestDatabase

ACCOUNTS = 4


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=5, connected_accounts=ACCOUNTS, connected_objects=3, seed=43)


@pytest.fixture
def pipeline_id(
    store: PipelineStore, runner: PipelineRunner, emulator: RunningEmulator, pg: PgTestDatabase
) -> str:
    """A Connect pipeline over a hand-kept list whose poll asks every account, backfilled."""
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer"], connected_accounts=emulator.connected_account_ids,
        poll_events=True, poll_connected_accounts="all", max_retries=0,
    )  # fmt: skip
    drain(runner.run(pipeline_id, [Lane.BACKFILL]))
    return pipeline_id


def events_asked(emulator: RunningEmulator) -> Counter[str | None]:
    return Counter(e.account for e in emulator.requests.entries() if e.path == EVENTS_PATH)


def test_a_revoked_account_is_parked_by_the_poll_alone_and_healed_by_a_reconcile_once_back(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    pipeline_id: str,
) -> None:
    revoked, *others = emulator.connected_account_ids
    changes = [emulator.create("customer", account_id=account).object["id"] for account in others]
    emulator.deauthorize_account(revoked)  # its webhook never reaches the pipeline
    emulator.requests.clear()

    drain(runner.run(pipeline_id, [Lane.POLL]))

    pipeline = store.get(pipeline_id)
    assert pipeline.status is PipelineStatus.READY  # not failed, not parked
    assert set(changes) <= set(rows(pg, "customer"))
    assert events_asked(emulator) == {None: 1, **dict.fromkeys([revoked, *others], 1)}
    status = account_status(pipeline)
    assert status is not None
    assert status["healthy"] == ACCOUNTS - 1
    assert status["accounts"][revoked]["status"] == "error"
    assert status["accounts"][revoked]["failure_kind"] == "permission"
    assert "revoked" in status["accounts"][revoked]["cause"]

    emulator.requests.clear()
    drain(runner.run(pipeline_id, [Lane.POLL]))
    assert revoked not in events_asked(emulator)  # parked: not asked every cycle

    later = PipelineRunner(store, Engine(), holder="reconcile", now=lambda: utc_now() + timedelta(hours=1))
    drain(later.run(pipeline_id, [Lane.RECONCILE]))  # still refused: stays parked, nothing fails
    pipeline = store.get(pipeline_id)
    assert pipeline.status is PipelineStatus.READY
    status = account_status(pipeline)
    assert status is not None
    assert status["accounts"][revoked]["status"] == "error"

    emulator.authorize_account(revoked)  # access is back; what changed meanwhile must arrive
    missed = emulator.create("customer", account_id=revoked).object["id"]
    drain(runner.run(pipeline_id, [Lane.POLL]))
    assert missed not in rows(pg, "customer")  # the poll still leaves it to the reconcile

    drain(later.run(pipeline_id, [Lane.RECONCILE]))

    assert missed in rows(pg, "customer")
    status = account_status(store.get(pipeline_id))
    assert status is not None
    assert status["accounts"][revoked]["status"] != "error"
    assert status["healthy"] == ACCOUNTS
    emulator.requests.clear()
    drain(runner.run(pipeline_id, [Lane.POLL]))
    assert events_asked(emulator)[revoked] == 1  # polled again like the others
