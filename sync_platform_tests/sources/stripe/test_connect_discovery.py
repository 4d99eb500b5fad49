"""`connected_accounts: "all"`: the platform's accounts found by listing /v1/accounts, once per run."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import pytest

from sync_platform.destinations.fixture import EchoDestination
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import ConnectorRegistry, Engine
from sync_platform.engine.registry import BUILTIN_SOURCES
from sync_platform.protocol import PipelineConfig, RunStatus, SyncState
from sync_platform.sources.stripe import StripeSource
from sync_platform.sources.stripe.discovery import DISCOVERED
from sync_platform_tests.sources.stripe.conftest import catalog_for, read, records, source_config


@pytest.fixture
def platform(stripe_emulator_factory: Callable[..., RunningEmulator]) -> RunningEmulator:
    return stripe_emulator_factory(objects=60, connected_accounts=6, connected_objects=30, seed=13)


def config_for(emulator: RunningEmulator, **overrides: object) -> dict[str, object]:
    created = emulator.store.account(None).account_object["created"]
    return source_config(
        emulator,
        account_id=emulator.account_id,
        account_created=created,
        connected_accounts="all",
        **overrides,
    )


def accounts_read(emulator: RunningEmulator, path: str = "/v1/customers") -> set[str | None]:
    return {e.account for e in emulator.requests.entries() if e.path == path}


def test_all_reads_every_listed_account_without_looking_any_up(
    source: StripeSource, platform: RunningEmulator
) -> None:
    messages = read(source, config_for(platform), catalog_for(["customer"]))
    assert accounts_read(platform) == {None, *platform.connected_account_ids}
    assert not accounts_read(platform, "/v1/account")  # `created` came with the listing
    expected = {
        (obj["id"], account or platform.account_id)
        for account in [None, *platform.connected_account_ids]
        for obj in platform.objects("customer", account_id=account)
    }
    assert {(row["id"], row["_account_id"]) for row in records(messages)} == expected


def test_excluded_accounts_and_a_metadata_filter_leave_accounts_out(
    source: StripeSource, platform: RunningEmulator
) -> None:
    first, second, *_ = platform.connected_account_ids
    for account in (first, second):
        platform.update("account", account, {"metadata": {"tier": "gold"}})
    config = config_for(platform, exclude_accounts=[second], account_metadata={"tier": "gold"})
    read(source, config, catalog_for(["customer"]))
    assert accounts_read(platform) == {None, first}


@pytest.fixture
def engine() -> Engine:
    echo = EchoDestination()
    return Engine(
        ConnectorRegistry(sources={"stripe": BUILTIN_SOURCES["stripe"]}, destinations={"echo": lambda: echo})
    )


def run(engine: Engine, emulator: RunningEmulator, state: SyncState | None, run_id: str) -> SyncState:
    pipeline = PipelineConfig.model_validate(
        {
            # one request in flight: a lane cut by a batch boundary is asked again once, never twice
            "source": {"type": "stripe", "stripe": config_for(emulator, max_concurrency=1)},
            "destination": {"type": "echo", "echo": {}},
            "streams": [{"name": "customer"}, {"name": "charge"}],
        }
    )
    while True:
        eof = asyncio.run(engine.sync_batch(pipeline, state=state, run_id=run_id, state_limit=2))
        assert eof.status is not RunStatus.FAILED, eof.error
        assert eof.ending_state is not None
        state = eof.ending_state
        if not eof.has_more:
            return state


def test_accounts_are_listed_once_per_run_and_a_new_run_finds_joins_and_departures(
    engine: Engine, platform: RunningEmulator
) -> None:
    state = run(engine, platform, None, "run-1")
    assert Counter(e.path for e in platform.requests.entries())["/v1/accounts"] == 1
    assert set(state.source.global_[DISCOVERED]["ids"]) == set(platform.connected_account_ids)

    while int(time.time()) <= state.sync_run.time_ceiling.timestamp():  # a run's ceiling is whole seconds
        time.sleep(0.05)
    joined = platform.authorize_account().event["account"]
    left = platform.connected_account_ids[0]
    platform.deauthorize_account(left)
    platform.requests.clear()
    state = run(engine, platform, state, "run-2")
    requests = Counter((e.path, e.account) for e in platform.requests.entries())
    assert requests[("/v1/accounts", None)] == 1
    assert not any(account == left for _, account in requests)  # its lanes are no longer planned
    assert requests[("/v1/customers", joined)] >= 1
    assert max(n for (path, _), n in requests.items() if path == "/v1/customers") <= 2
    assert joined in state.source.streams["customer"]["accounts"]
    assert left not in state.source.streams["customer"]["accounts"]
