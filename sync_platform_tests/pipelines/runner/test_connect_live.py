"""Live at Connect scale, through the real runner into PostgreSQL: connected accounts' webhooks
reach the one inbox and live lane (one run applies every account's events), the events poll asks
the platform alone, and a reconcile that finds an account's change no webhook brought heals it
and flags the account, so the poll asks it too from then on (request log)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from sync_platform.emulator import MutationResult, RunningEmulator
from sync_platform.engine import Engine
from sync_platform.pipelines import CheckpointLane, PipelineStore
from sync_platform.pipelines.runner import BatchCommitted, Lane, PipelineRunner
from sync_platform.protocol import utc_now
from sync_platform.sources.stripe.events import EVENTS_PATH
from sync_platform.sources.stripe.poll_scope import POLL_FLAGS, WEBHOOK_SEEN
from sync_platform_tests.pipelines.runner.conftest import create_pipeline, drain, rows
from sync_platform_tests.plugins.postgres import PgTestDatabase

ACCOUNTS = 12  # more than "auto" polls one by one
WEBHOOK_SECRET = "whsec_" + "connect_live_0123456789abcdef"


@pytest.fixture
def emulator(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=5, connected_accounts=ACCOUNTS, connected_objects=3, seed=41)


@pytest.fixture
def pipeline_id(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    monkeypatch: pytest.MonkeyPatch,
) -> str:
    """A Connect pipeline over every account that takes webhooks and polls too, backfilled."""
    monkeypatch.setenv("TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
    pipeline_id = create_pipeline(
        store, emulator, pg, streams=["customer"], connected_accounts="all",
        webhook_secret={"env": "TEST_WEBHOOK_SECRET"}, poll_events=True,
    )  # fmt: skip
    drain(runner.run(pipeline_id, [Lane.BACKFILL]))
    return pipeline_id


def deliver(store: PipelineStore, pipeline_id: str, *changes: MutationResult) -> None:
    """What the webhook receiver does with a verified event: store it in the inbox."""
    for change in changes:
        store.insert_inbox_event(pipeline_id, change.event["id"], change.event["type"], change.event)


def events_asked(emulator: RunningEmulator) -> Counter[str | None]:
    return Counter(e.account for e in emulator.requests.entries() if e.path == EVENTS_PATH)


def live_global(store: PipelineStore, pipeline_id: str) -> dict[str, Any]:
    state = store.get_checkpoint(pipeline_id, CheckpointLane.LIVE).state
    assert state is not None
    return dict(state["source"]["global"])


def test_one_live_run_applies_the_webhooks_of_many_connected_accounts(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    pipeline_id: str,
) -> None:
    changes = [emulator.create("customer", account_id=account) for account in emulator.connected_account_ids]
    deliver(store, pipeline_id, *changes)
    emulator.requests.clear()

    events = drain(runner.run(pipeline_id, [Lane.LIVE]))

    assert [e.events_applied for e in events if isinstance(e, BatchCommitted)] == [ACCOUNTS]
    assert {change.object["id"] for change in changes} <= set(rows(pg, "customer"))
    assert store.count_pending_inbox(pipeline_id) == 0
    assert events_asked(emulator) == {}  # the webhooks said it all: no account was polled
    seen = live_global(store, pipeline_id)[WEBHOOK_SEEN]
    assert seen == {change.event["account"]: change.event["created"] for change in changes}


def test_a_reconcile_flags_the_account_whose_webhook_was_lost_and_the_poll_then_asks_it(
    store: PipelineStore,
    runner: PipelineRunner,
    emulator: RunningEmulator,
    pg: PgTestDatabase,
    pipeline_id: str,
) -> None:
    lost_to, delivered_to = emulator.connected_account_ids[:2]
    lost = emulator.create("customer", account_id=lost_to)  # its webhook never reaches the inbox
    deliver(store, pipeline_id, emulator.create("customer", account_id=delivered_to))
    drain(runner.run(pipeline_id, [Lane.LIVE]))
    emulator.requests.clear()

    drain(runner.run(pipeline_id, [Lane.POLL]))

    assert events_asked(emulator) == {None: 1}  # the platform alone, not 1 + 12 accounts
    assert lost.object["id"] not in rows(pg, "customer")
    cursor = live_global(store, pipeline_id)["events_cursor"]

    later = PipelineRunner(store, Engine(), holder="reconcile", now=lambda: utc_now() + timedelta(hours=1))
    drain(later.run(pipeline_id, [Lane.RECONCILE]))  # an hour on: the webhook had time to come

    assert lost.object["id"] in rows(pg, "customer")  # healed by the replay
    flagged = live_global(store, pipeline_id)
    assert set(flagged[POLL_FLAGS]) == {lost_to}
    assert flagged["events_cursor"] == cursor  # the reconcile moves no cursor

    again = emulator.create("customer", account_id=lost_to)  # lost again
    emulator.requests.clear()
    drain(runner.run(pipeline_id, [Lane.POLL]))

    assert events_asked(emulator) == {None: 1, lost_to: 1}
    assert again.object["id"] in rows(pg, "customer")
