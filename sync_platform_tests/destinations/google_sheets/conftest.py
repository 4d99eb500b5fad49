"""Fixtures for the Google Sheets destination tests: a destination on a skipping clock, and a
spreadsheet already set up for the ``customer`` and ``invoice`` streams."""

from __future__ import annotations

from typing import Any

import pytest

from sync_platform.destinations.google_sheets import GoogleSheetsDestination
from sync_platform.sheets_emulator import SheetsEmulator
from sync_platform_tests.destinations.google_sheets.streams import catalog, reported_config, setup
from sync_platform_tests.plugins.sheets_server import SkippingClock


@pytest.fixture
def destination(skipping_clock: SkippingClock) -> GoogleSheetsDestination:
    return GoogleSheetsDestination(clock=skipping_clock)


@pytest.fixture
def config(
    sheets: SheetsEmulator, sheets_config: dict[str, Any], destination: GoogleSheetsDestination
) -> dict[str, Any]:
    """A destination config whose spreadsheet setup created, with tabs for customer and invoice."""
    return reported_config(setup(destination, sheets_config, catalog("customer", "invoice")))
