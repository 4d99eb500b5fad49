"""Engine.sync: the streaming sync, its limits, continuation rules and failure handling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sync_platform.destinations.fixture import BufferingDestination
from sync_platform.engine.connectors import Config
from sync_platform.protocol import (
    ConfiguredCatalog,
    EofMessage,
    EofPayload,
    LogMessage,
    Message,
    ProgressMessage,
    RecordMessage,
    RunStatus,
    SourceStateMessage,
    StreamRunStatus,
    StreamStatusMessage,
    SyncState,
    global_state,
    log,
    stream_complete,
    stream_error,
    stream_start,
)
from sync_platform_tests.engine.conftest import (
    Harness,
    RecordingDestination,
    ScriptedSource,
    collect,
    make_harness,
    rec,
    state,
)


def eof_of(messages: list[Message]) -> EofPayload:
    assert isinstance(messages[-1], EofMessage), "the eof must be the last message"
    return messages[-1].eof


def run_sync(h: Harness, **options: Any) -> list[Message]:
    streams = options.pop("streams", None)
    return asyncio.run(collect(h.engine.sync(h.pipeline(streams), **options)))


def test_a_sync_without_limits_ends_with_an_eof_that_has_no_more() -> None:
    h = make_harness(
        ScriptedSource(
            [
                stream_start("customer"),
                rec("customer", "c1"),
                state("customer", 1),
                stream_complete("customer"),
            ],
            streams=["customer"],
        )
    )
    messages = run_sync(h)
    eof = eof_of(messages)
    assert eof.has_more is False
    assert eof.status == RunStatus.SUCCEEDED
    assert eof.ending_state is not None
    assert eof.ending_state.source.streams == {"customer": {"cursor": 1}}
    assert eof.request_progress.streams["customer"].record_count == 1


def test_records_are_never_forwarded_but_states_statuses_and_logs_are_each_followed_by_progress() -> None:
    h = make_harness(
        ScriptedSource(
            [stream_start("customer"), rec("customer", "c1"), log("warn", "careful"), state("customer", 1)],
            streams=["customer"],
        )
    )
    messages = run_sync(h)
    kinds = [m.type for m in messages]
    assert "record" not in kinds
    assert kinds == ["stream_status", "progress", "log", "source_state", "progress", "eof"]
    assert all(m.emitted_by for m in messages)
    assert messages[0].emitted_by == "source/scripted"
    assert messages[1].emitted_by == "engine"


def test_the_initial_state_reaches_the_source() -> None:
    h = make_harness()
    prior = SyncState.model_validate({"source": {"streams": {"customer": {"cursor": "c9"}}}})
    run_sync(h, state=prior.to_wire())
    assert h.source.calls[0].state is not None
    assert h.source.calls[0].state.streams == {"customer": {"cursor": "c9"}}


def test_a_run_id_freezes_a_time_ceiling_that_caps_every_stream_and_no_run_id_sets_none() -> None:
    h = make_harness()
    eof = eof_of(run_sync(h, run_id="run-1"))
    ceiling = eof.ending_state.sync_run.time_ceiling  # type: ignore[union-attr]
    assert ceiling == h.clock.now()
    assert all(
        c.time_range is not None and c.time_range.lt == ceiling for c in h.source.calls[0].catalog.streams
    )
    run_sync(h)
    assert all(c.time_range is None for c in h.source.calls[1].catalog.streams)


def test_a_new_run_id_resets_run_progress_and_replaces_the_run_id() -> None:
    h = make_harness(ScriptedSource([global_state({"c": 1})]))
    first = eof_of(run_sync(h, run_id="a")).ending_state
    second = eof_of(run_sync(h, run_id="b", state=first.to_wire()))  # type: ignore[union-attr]
    assert second.ending_state.sync_run.run_id == "b"  # type: ignore[union-attr]
    assert second.run_progress.global_state_count == 1


def test_the_same_run_id_continues_progress_measured_from_the_original_start() -> None:
    h = make_harness(ScriptedSource([global_state({"c": 1})]))
    first = eof_of(run_sync(h, run_id="a"))
    h.clock.advance(6)
    second = eof_of(run_sync(h, run_id="a", state=first.ending_state.to_wire()))  # type: ignore[union-attr]
    assert second.run_progress.global_state_count == 2
    assert second.run_progress.elapsed_ms >= 6000
    assert second.request_progress.global_state_count == 1


def test_a_continuation_skips_streams_that_finished_and_keeps_their_progress() -> None:
    script = [
        stream_start("customer"),
        rec("customer", "c1"),
        stream_complete("customer"),
        stream_start("invoice"),
        stream_error("invoice", "boom"),
    ]
    h = make_harness(ScriptedSource(script, streams=["customer", "invoice", "charge"]))
    first = eof_of(run_sync(h, run_id="r"))
    h.source.script = []
    second = eof_of(run_sync(h, run_id="r", state=first.ending_state.to_wire()))  # type: ignore[union-attr]
    assert h.source.calls[1].streams == ["charge"]
    assert set(second.request_progress.streams) == {"charge"}
    run = second.ending_state.sync_run.progress  # type: ignore[union-attr]
    assert run.streams["customer"].status == StreamRunStatus.COMPLETED
    assert run.streams["customer"].record_count == 1
    assert run.streams["invoice"].status == StreamRunStatus.ERRORED


def test_a_new_run_id_retries_streams_that_errored() -> None:
    h = make_harness(ScriptedSource([stream_start("invoice"), stream_error("invoice", "boom")]))
    first = eof_of(run_sync(h, run_id="r1"))
    run_sync(h, run_id="r2", state=first.ending_state.to_wire())  # type: ignore[union-attr]
    assert h.source.calls[1].streams == ["customer", "invoice"]


def test_two_chunks_of_one_run_end_failed_when_a_stream_errored_in_the_first() -> None:
    h = make_harness(
        ScriptedSource(
            [stream_start("customer"), stream_start("charge"), stream_error("charge", "x")],
            streams=["customer", "charge"],
        )
    )
    first = eof_of(run_sync(h, run_id="r"))
    assert first.status == RunStatus.STARTED
    h.source.script = [rec("customer", "c1"), state("customer", 1), stream_complete("customer")]
    second = eof_of(run_sync(h, run_id="r", state=first.ending_state.to_wire()))  # type: ignore[union-attr]
    assert h.source.calls[1].streams == ["customer"]
    assert second.status == RunStatus.FAILED


def test_an_idle_source_leaves_the_checkpoints_as_they_were() -> None:
    h = make_harness(ScriptedSource([]))
    prior = SyncState.model_validate(
        {"source": {"streams": {"customer": {"cursor": 3}}}, "destination": {"x": 1}}
    )
    eof = eof_of(run_sync(h, state=prior.to_wire()))
    assert eof.ending_state.source == prior.source  # type: ignore[union-attr]
    assert eof.ending_state.destination == prior.destination  # type: ignore[union-attr]


def test_a_source_crash_yields_a_failed_eof_with_the_progress_so_far_then_raises() -> None:
    h = make_harness(ScriptedSource([rec("customer", "c1"), state("customer", 1)], then="raise"))
    seen: list[Message] = []

    async def go() -> None:
        async for message in h.engine.sync(h.pipeline()):
            seen.append(message)

    with pytest.raises(RuntimeError, match="source crashed"):
        asyncio.run(go())
    eof = eof_of(seen)
    assert (eof.status, eof.has_more) == (RunStatus.FAILED, False)
    assert eof.request_progress.streams["customer"].record_count == 1
    assert eof.ending_state.source.streams == {"customer": {"cursor": 1}}  # type: ignore[union-attr]
    assert eof.error is not None
    assert "source crashed" in eof.error


def test_selecting_streams_drops_other_streams_records_and_states_before_the_destination() -> None:
    script = [rec("customer", "c1"), state("customer", 1), rec("invoice", "i1"), state("invoice", 1)]
    h = make_harness(ScriptedSource(script))
    eof = eof_of(run_sync(h, streams=["customer"]))
    received = h.destination.received
    assert [m.record.stream for m in received if isinstance(m, RecordMessage)] == ["customer"]
    assert [m.source_state.stream for m in received if isinstance(m, SourceStateMessage)] == ["customer"]
    assert set(eof.ending_state.source.streams) == {"customer"}  # type: ignore[union-attr]


def test_state_is_folded_only_from_what_the_destination_re_emits() -> None:
    """The commit fence: a state the destination holds back never reaches ending_state."""

    def hold_invoice(message: Message) -> Message | None:
        if isinstance(message, SourceStateMessage) and message.source_state.stream == "invoice":  # type: ignore[union-attr]
            return None
        return message

    script = [rec("customer", "c1"), state("customer", 1), rec("invoice", "i1"), state("invoice", 1)]
    h = make_harness(ScriptedSource(script), RecordingDestination(transform=hold_invoice))
    eof = eof_of(run_sync(h))
    assert eof.ending_state.source.streams == {"customer": {"cursor": 1}}  # type: ignore[union-attr]


def test_a_soft_time_limit_stops_reading_lets_the_destination_flush_once_and_keeps_its_states() -> None:
    destination = BufferingDestination()
    source = ScriptedSource([], streams=["customer"], then="forever", tick=0.01)
    h = make_harness(source, destination)
    eof = eof_of(run_sync(h, soft_time_limit=0.3, time_limit=5))
    assert eof.has_more is True
    assert destination.flush_count == 1
    flushed = len(destination.flushed_records)
    assert 25 <= flushed <= 31  # ~0.3 s of records at 0.01 s each
    cursor = eof.ending_state.source.streams["customer"]["cursor"]  # type: ignore[union-attr]
    assert cursor == flushed - flushed % 10  # the last state before the cut, re-emitted after the flush


class StuckFlushDestination(RecordingDestination):
    """Accepts input, then never finishes its final flush."""

    stuck: asyncio.Event | None = None

    async def write(
        self, config: Config, catalog: ConfiguredCatalog, messages: AsyncIterator[Message]
    ) -> AsyncIterator[Message]:
        async for message in messages:
            if isinstance(message, SourceStateMessage):
                yield message
        self.stuck = asyncio.Event()
        self.stuck.set()
        await asyncio.Event().wait()
        yield log("info", "never")  # pragma: no cover


def test_a_hard_time_limit_returns_at_once_even_when_the_destination_is_stuck() -> None:
    destination = StuckFlushDestination()
    h = make_harness(ScriptedSource([rec("customer", "c1"), state("customer", 1)]), destination)

    async def go() -> EofPayload:
        task = asyncio.ensure_future(collect(h.engine.sync(h.pipeline(), time_limit=5)))
        while destination.stuck is None:  # until the destination is stuck in its final flush
            await asyncio.sleep(0)
        await h.clock.until_sleeping()
        h.clock.advance(5)
        return eof_of(await asyncio.wait_for(task, 5))

    eof = asyncio.run(go())
    assert eof.has_more is True
    assert eof.ending_state.source.streams == {"customer": {"cursor": 1}}  # type: ignore[union-attr]


def test_closing_the_sync_stops_a_blocked_source() -> None:
    h = make_harness(ScriptedSource([stream_start("customer")], then="block"))

    async def go() -> None:
        sync = h.engine.sync(h.pipeline())
        first = await anext(sync)
        assert isinstance(first, StreamStatusMessage)
        assert isinstance(await anext(sync), ProgressMessage)
        pending = asyncio.ensure_future(anext(sync))
        await asyncio.wait_for(h.source.blocked.wait(), 10)  # the source now waits forever
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        await sync.aclose()
        assert h.source.closed is not None
        await asyncio.wait_for(h.source.closed.wait(), 1)

    asyncio.run(go())


def test_progress_messages_carry_run_progress() -> None:
    h = make_harness(ScriptedSource([rec("customer", "a"), rec("customer", "b"), state("customer", 1)]))
    progress = [m for m in run_sync(h) if isinstance(m, ProgressMessage)]
    assert progress[-1].progress.streams["customer"].record_count == 2


def test_connector_log_messages_are_forwarded_with_their_emitter() -> None:
    h = make_harness(ScriptedSource([log("error", "rate limited")]))
    logs = [m for m in run_sync(h) if isinstance(m, LogMessage)]
    assert [(m.log.message, m.emitted_by) for m in logs] == [("rate limited", "source/scripted")]


class EchoInputSource(ScriptedSource):
    """Reads only the pushed input (as the Stripe source does with webhook events)."""

    async def read(  # type: ignore[override]
        self, config: Config, catalog: ConfiguredCatalog, state: Any, input: Any = None
    ) -> AsyncIterator[Message]:
        async for item in input:
            yield item


def test_pushed_input_only_reports_the_streams_it_touched_and_completes_them() -> None:
    """Reference bug #2: listing every stream up front kept a webhook sync "started" forever."""
    h = make_harness(EchoInputSource())

    async def events() -> AsyncIterator[Any]:
        yield rec("customer", "c1")
        yield state("customer", "evt_1")

    eof = eof_of(asyncio.run(collect(h.engine.sync(h.pipeline(), input=events()))))
    assert set(eof.request_progress.streams) == {"customer"}
    assert eof.request_progress.streams["customer"].record_count == 1
    assert eof.status == RunStatus.SUCCEEDED


def test_a_pushed_continuation_applies_events_of_a_stream_an_earlier_batch_completed() -> None:
    """A live run applies its inbox in several batches of one run id; each batch completes the
    streams it touched, and skipping them in the next batch dropped that batch's events."""
    h = make_harness(EchoInputSource())

    def events(n: int) -> AsyncIterator[Any]:
        async def items() -> AsyncIterator[Any]:
            yield rec("customer", f"c{n}")
            yield state("customer", f"evt_{n}")

        return items()

    first = eof_of(asyncio.run(collect(h.engine.sync(h.pipeline(), run_id="live", input=events(1)))))
    assert first.request_progress.streams["customer"].status == StreamRunStatus.COMPLETED
    second_messages = asyncio.run(
        collect(
            h.engine.sync(
                h.pipeline(),
                run_id="live",
                state=first.ending_state.to_wire(),  # type: ignore[union-attr]
                input=events(2),
            )
        )
    )
    second = eof_of(second_messages)
    assert second.request_progress.streams["customer"].record_count == 1
    assert second.run_progress.streams["customer"].record_count == 2
