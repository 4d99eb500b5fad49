"""The Stripe source driven by the engine: batched syncs, resumes, and the events cursor across runs."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from sync_platform.destinations.fixture import EchoDestination
from sync_platform.emulator import RunningEmulator
from sync_platform.engine import ConnectorRegistry, Engine
from sync_platform.engine.registry import BUILTIN_SOURCES
from sync_platform.protocol import EofPayload, PipelineConfig, RunStatus, SyncState, from_unix, iso
from sync_platform_tests.sources.stripe.conftest import live_ids, source_config

STREAMS = ["customer", "invoice", "subscription"]


@pytest.fixture
def echo() -> EchoDestination:
    return EchoDestination()


@pytest.fixture
def engine(echo: EchoDestination) -> Engine:
    """The registry's real path to the Stripe source, and one echo destination that keeps everything."""
    registry = ConnectorRegistry(
        sources={"stripe": BUILTIN_SOURCES["stripe"]}, destinations={"echo": lambda: echo}
    )
    return Engine(registry)


def pipeline(emulator: RunningEmulator, streams: list[dict[str, Any]], **config: Any) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "source": {"type": "stripe", "stripe": source_config(emulator, **config)},
            "destination": {"type": "echo", "echo": {}},
            "streams": streams,
        }
    )


def run_batches(
    engine: Engine, config: PipelineConfig, state: SyncState | None, run_id: str, *, state_limit: int = 3
) -> Iterator[EofPayload]:
    while True:
        eof = asyncio.run(engine.sync_batch(config, state=state, run_id=run_id, state_limit=state_limit))
        yield eof
        state = eof.ending_state
        if not eof.has_more:
            return


def written(echo: EchoDestination, since: int = 0) -> Counter[tuple[str, str]]:
    return Counter(
        (message.record.stream, message.record.data["id"])
        for message in echo.received[since:]
        if message.type == "record"
    )


def test_a_backfill_in_small_batches_writes_every_object_exactly_once_then_only_new_ones(
    engine: Engine, echo: EchoDestination, stripe_emulator_factory: Callable[..., RunningEmulator]
) -> None:
    stripe_emulator = stripe_emulator_factory(
        objects=0, counts={"customer": 250, "invoice": 230, "subscription": 150}
    )
    config = pipeline(stripe_emulator, [{"name": name} for name in STREAMS], max_concurrency=4)
    batches = list(run_batches(engine, config, None, "run-1", state_limit=2))
    assert len(batches) >= 4  # the backfill really was cut into batches
    final = batches[-1]
    assert final.status is RunStatus.SUCCEEDED
    expected = Counter((name, object_id) for name in STREAMS for object_id in live_ids(stripe_emulator, name))
    assert written(echo) == expected
    assert final.ending_state is not None
    for name in STREAMS:
        stream_state = final.ending_state.source.streams[name]
        assert stream_state["remaining"] == []
        assert stream_state["listed"] == sum(
            count for (stream, _), count in expected.items() if stream == name
        )

    # A later run lists only the time since the first one's window ended.
    lt = _seconds(final.ending_state.source.streams["customer"]["accounted_range"]["lt"])
    new = [stripe_emulator.create("customer", {"created": lt + offset}).object["id"] for offset in (0, 5)]
    later = [{"name": name, "time_range": {"lt": iso(from_unix(lt + 60))}} for name in STREAMS]
    seen = len(echo.received)
    again = list(run_batches(engine, pipeline(stripe_emulator, later), final.ending_state, "run-2"))
    assert again[-1].status is RunStatus.SUCCEEDED
    assert written(echo, seen) == Counter(("customer", object_id) for object_id in new)


def _seconds(value: str) -> int:
    return int(datetime.fromisoformat(value).timestamp())


def _canceled(emulator: RunningEmulator) -> set[str]:
    client = emulator.client()
    return {
        s.id for s in client.v1.subscriptions.list({"status": "canceled", "limit": 100}).auto_paging_iter()
    }


def test_the_events_cursor_and_backfill_checkpoints_survive_each_other_across_runs(
    engine: Engine, echo: EchoDestination, stripe_emulator: RunningEmulator
) -> None:
    backfill = pipeline(stripe_emulator, [{"name": "customer"}])
    (first,) = run_batches(engine, backfill, None, "backfill", state_limit=10_000)
    assert first.ending_state is not None
    cursor = first.ending_state.source.global_["events_cursor"]
    checkpoint = first.ending_state.source.streams["customer"]

    changed = stripe_emulator.update(
        "customer", stripe_emulator.objects("customer")[0]["id"], {"name": "New"}
    )
    seen = len(echo.received)
    incremental = pipeline(stripe_emulator, [{"name": "customer", "sync_mode": "incremental"}])
    (poll,) = run_batches(engine, incremental, first.ending_state, "poll", state_limit=10_000)
    assert poll.status is RunStatus.SUCCEEDED
    assert written(echo, seen) == Counter({("customer", changed.object["id"]): 1})
    assert poll.ending_state is not None
    assert poll.ending_state.source.streams["customer"] == checkpoint  # untouched by events
    assert poll.ending_state.source.global_["events_cursor"] >= max(cursor, changed.event["created"])

    (again,) = run_batches(engine, backfill, poll.ending_state, "backfill-2", state_limit=10_000)
    assert again.ending_state is not None
    assert again.ending_state.source.global_ == poll.ending_state.source.global_  # the backfill keeps it
    assert again.ending_state.source.streams["customer"]["listed"] >= checkpoint["listed"]


def test_a_refused_key_fails_the_run_with_the_connection_status(
    engine: Engine, stripe_emulator: RunningEmulator
) -> None:
    config = pipeline(
        stripe_emulator,
        [{"name": "customer"}],
        api_key="sk_test_" + "r" * 24,
        account_id=stripe_emulator.account_id,
    )
    eof = asyncio.run(engine.sync_batch(config, run_id="bad-key"))
    assert eof.status is RunStatus.FAILED
    assert eof.request_progress.connection_status is not None
    assert "api_key" in (eof.request_progress.connection_status.message or "")
