"""The destination under the engine: a backfill of several streams, and recovery from a failed flush."""

from __future__ import annotations

import asyncio
from typing import Any

from sync_platform.destinations.google_sheets import GoogleSheetsDestination
from sync_platform.engine import Engine, default_registry
from sync_platform.protocol import (
    ControlMessage,
    DestinationConfigControl,
    EofPayload,
    PipelineConfig,
    RunStatus,
    SyncState,
)
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.plugins.sheets_server import SkippingClock


def engine(clock: SkippingClock) -> Engine:
    registry = default_registry(include_entry_points=False)
    registry.register_destination("google_sheets", lambda: GoogleSheetsDestination(clock=clock))
    return Engine(registry)


def pipeline(destination_config: dict[str, Any], streams: dict[str, int]) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "source": {"type": "fixture", "fixture": {"streams": streams, "state_every": 10}},
            "destination": {"type": "google_sheets", "google_sheets": destination_config},
        }
    )


def set_up(sync: Engine, config: PipelineConfig) -> PipelineConfig:
    async def run() -> dict[str, Any]:
        async for message in sync.setup(config, only="destination"):
            if isinstance(message, ControlMessage) and isinstance(message.control, DestinationConfigControl):
                return dict(message.control.destination_config)
        raise AssertionError("setup reported no spreadsheet")

    updated = asyncio.run(run())
    return config.model_copy(
        update={"destination": config.destination.model_copy(update={"config": updated})}
    )


def batch(sync: Engine, config: PipelineConfig, state: SyncState | None = None) -> EofPayload:
    return asyncio.run(sync.sync_batch(config, state=state))


def ids(sheets: SheetsEmulator, config: PipelineConfig, tab: str) -> list[str]:
    return [row[0] for row in sheets.values(config.destination.config["spreadsheet_id"], tab)[1:]]


def test_a_backfill_of_several_streams_lands_in_their_tabs(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], skipping_clock: SkippingClock
) -> None:
    sync = engine(skipping_clock)
    config = set_up(sync, pipeline(sheets_config, {"customer": 120, "invoice": 80, "charge": 40}))

    eof = batch(sync, config)

    assert eof.status is RunStatus.SUCCEEDED
    assert eof.ending_state is not None
    assert eof.ending_state.source.streams == {
        "customer": {"offset": 120},
        "invoice": {"offset": 80},
        "charge": {"offset": 40},
    }
    assert ids(sheets, config, "customer") == [f"customer_{i:09d}" for i in range(120)]
    assert len(ids(sheets, config, "invoice")) == 80
    assert len(ids(sheets, config, "charge")) == 40


def test_a_failed_flush_holds_its_checkpoint_back_and_a_rerun_converges(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], skipping_clock: SkippingClock
) -> None:
    """The first flush goes out as soon as 10 rows (100 cells) are buffered; the second fails for
    good. Only the checkpoint the first flush covered may be kept, and the rerun must fill the gap
    without duplicating a row."""
    sync = engine(skipping_clock)
    small = {**sheets_config, "max_cells_per_flush": 100, "max_retries": 1}
    config = set_up(sync, pipeline(small, {"customer": 300}))
    sheets.fail_next(2, status=503, skip=1)  # the second flush fails twice: retries exhausted

    first = batch(sync, config)

    assert first.status is RunStatus.FAILED
    assert first.ending_state is not None
    assert first.ending_state.source.streams == {"customer": {"offset": 10}}
    assert ids(sheets, config, "customer") == [f"customer_{i:09d}" for i in range(10)]

    second = batch(sync, config, first.ending_state)

    assert second.status is RunStatus.SUCCEEDED
    assert second.ending_state is not None
    assert second.ending_state.source.streams == {"customer": {"offset": 300}}
    assert ids(sheets, config, "customer") == [f"customer_{i:09d}" for i in range(300)]
