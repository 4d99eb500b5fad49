"""Scenarios of objects changed several times within one second, delivered to PostgreSQL through
the real engine as webhooks, an events poll or a reconcile, and what the user then sees.

``run_scenario`` is a plain function so the property test (``test_same_second_versions.py``)
and a one-off count against older code can share it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import psycopg
from psycopg import sql

from sync_platform.emulator import RunningEmulator
from sync_platform.engine import ConnectorRegistry, Engine
from sync_platform.engine.registry import BUILTIN_DESTINATIONS
from sync_platform.protocol import PipelineConfig, RunStatus, SyncState
from sync_platform.sources.stripe import StripeSource
from sync_platform_tests.sources.stripe.conftest import InstantClock, source_config

STREAMS = ("customer", "invoice", "product", "subscription")  # product has `updated`; the others not
COUNTS = dict.fromkeys(STREAMS, 3)
FIELDS = ("description", "metadata", "status")  # what the changes touch, compared with the rows
SOURCE_LEAD = 5  # seconds the source's clock runs ahead of the emulator's (see LeadingClock)

Mode = Literal["webhooks", "poll", "reconcile"]


class LeadingClock(InstantClock):
    """The source's clock, a few seconds ahead: the pinned second of the changes (just after the
    backfill's pages) is already in its past, so a poll reads it and a fetch need not wait."""

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=SOURCE_LEAD)


@dataclass(frozen=True)
class Change:
    """One change of object ``target`` (an index into the scenario's objects): its ``number`` in
    that object's sequence, the ``value`` it writes (random, so a later version may well sort
    lower than an earlier one), ``delete`` (the last one), and whether it opens the next second."""

    target: int
    number: int
    value: int = 0
    delete: bool = False
    next_second: bool = False


@dataclass
class Scenario:
    """Objects (``(stream, position)`` in the emulator's list) and the interleaving of their changes."""

    objects: list[tuple[str, int]]
    changes: list[Change]
    # webhooks: the delivery order (a permutation of the events), redeliveries ((position, event)
    # pairs) and batch cuts; reconcile: the events delivered as webhooks before the replay (the
    # first ``delivered`` of ``order``); poll: how many changes are listable at the first poll
    order: list[int] = field(default_factory=list)
    redeliveries: list[tuple[int, int]] = field(default_factory=list)
    cuts: list[int] = field(default_factory=list)
    delivered: int | None = None
    listed_first: int = 0


def engine() -> Engine:
    registry = ConnectorRegistry(
        sources={"stripe": lambda: StripeSource(clock=LeadingClock())},
        destinations={"postgres": BUILTIN_DESTINATIONS["postgres"]},
    )
    return Engine(registry)


def pipeline(emulator: RunningEmulator, url: str, schema: str, mode: str) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "source": {"type": "stripe", "stripe": source_config(emulator, account_id=emulator.account_id)},
            "destination": {"type": "postgres", "postgres": {"url": url, "schema": schema}},
            "streams": [{"name": name, "sync_mode": mode} for name in STREAMS],
        }
    )


def _sync(engine: Engine, config: PipelineConfig, state: Any, items: Sequence[Any] | None = None) -> Any:
    async def feed() -> AsyncIterator[Any]:
        for item in items or ():
            yield item

    eof = asyncio.run(engine.sync_batch(config, state=state, input=feed() if items is not None else None))
    assert eof.status is RunStatus.SUCCEEDED, eof.error
    assert not eof.has_more
    return eof.ending_state


def _setup(engine: Engine, config: PipelineConfig) -> None:
    async def run() -> None:
        async for _ in engine.setup(config, only="destination"):
            pass

    asyncio.run(run())


def projection(obj: dict[str, Any]) -> dict[str, Any]:
    return {name: obj.get(name) for name in FIELDS}


def rows(url: str, schema: str, stream: str) -> dict[str, dict[str, Any]]:
    query = sql.SQL("SELECT id, _raw_data FROM {}").format(sql.Identifier(schema, stream))
    with psycopg.connect(url, autocommit=True) as connection:
        return {row[0]: projection(row[1]) for row in connection.execute(query).fetchall()}


def expected(emulator: RunningEmulator, stream: str) -> dict[str, dict[str, Any]]:
    return {obj["id"]: projection(obj) for obj in emulator.objects(stream)}


def _apply(emulator: RunningEmulator, targets: list[tuple[str, str]], change: Change) -> dict[str, Any]:
    stream, object_id = targets[change.target]
    if change.delete:
        return emulator.delete(stream, object_id).event
    value = f"{change.value}.{change.number}"  # never the same twice for one object
    fields = {"description": f"{object_id} {value}", "metadata": {"v": value}}
    return emulator.update(stream, object_id, fields).event


def _batches(items: list[Any], cuts: list[int]) -> Iterator[list[Any]]:
    bounds = sorted({cut % (len(items) + 1) for cut in cuts} | {0, len(items)})
    for start, end in itertools.pairwise(bounds):
        if start < end:
            yield items[start:end]


def run_scenario(
    emulator: RunningEmulator, url: str, schema: str, mode: Mode, scenario: Scenario
) -> dict[str, Any]:
    """Backfill, change the objects within one second (or two), deliver the changes as ``mode``
    says, and return what differs between the tables and the emulator (empty: the user sees
    Stripe's current objects)."""
    emulator.reset()
    sync_engine = engine()
    backfill_config = pipeline(emulator, url, schema, "full_refresh")
    live_config = pipeline(emulator, url, schema, "incremental")
    _setup(sync_engine, backfill_config)
    state = _sync(sync_engine, backfill_config, None)
    targets = [(stream, emulator.objects(stream)[position]["id"]) for stream, position in scenario.objects]

    second = int(time.time()) + 1  # after every page the backfill listed (stamped with its Date)
    events: list[dict[str, Any]] = []
    with emulator.same_second(second):
        split = scenario.listed_first if mode == "poll" else len(scenario.changes)
        for change in scenario.changes[:split]:
            if change.next_second:
                emulator.pin_second(second + 1)
            events.append(_apply(emulator, targets, change))
        with emulator.unlisted_events():  # Stripe lists these a little late: the first poll misses them
            for change in scenario.changes[split:]:
                if change.next_second:
                    emulator.pin_second(second + 1)
                events.append(_apply(emulator, targets, change))
            if mode == "poll":
                state = _sync(sync_engine, live_config, state)
    if mode == "poll":
        _sync(sync_engine, live_config, state)  # the rest, found in the overlap
    else:
        pushed = [events[i] for i in scenario.order[: scenario.delivered]]
        for position, index in scenario.redeliveries:  # Stripe may deliver an event twice
            pushed.insert(position % (len(pushed) + 1), events[index % len(events)])
        for batch in _batches(pushed, scenario.cuts):
            state = _sync(sync_engine, live_config, state, batch)
        if mode == "reconcile":
            replay = StripeSource(clock=LeadingClock()).replay_state(datetime.now(UTC))
            _sync(sync_engine, live_config, SyncState(source=replay))
    differences: dict[str, Any] = {}
    for stream in STREAMS:
        have, want = rows(url, schema, stream), expected(emulator, stream)
        if have != want:
            differences[stream] = {
                object_id: {"row": have.get(object_id), "stripe": want.get(object_id)}
                for object_id in have.keys() | want.keys()
                if have.get(object_id) != want.get(object_id)
            }
    return differences
