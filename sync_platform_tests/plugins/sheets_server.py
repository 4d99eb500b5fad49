"""The local Sheets API for tests: one emulator server per session, reset for every test.

``sheets`` is the emulator (``.base_url``, counters, inspection, scripted failures); ``service_account``
is a freshly generated RSA key in Google's key-file format, registered with the emulator so token
requests are really verified; ``sheets_config`` is a destination config pointing the real gspread
client at the emulator (production retry and quota defaults); ``skipping_clock`` is a clock whose
``sleep`` jumps time forward at once, shared with the emulator's quota windows so quota waits cost
no real time.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from sync_platform.engine import FakeClock
from sync_platform.sheets_emulator import SheetsEmulator, generate_service_account_key, serve_sheets_emulator


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    info: dict[str, Any]
    public_key_pem: bytes

    @property
    def key_json(self) -> str:
        return json.dumps(self.info)


def make_service_account(
    email: str = "sync-tests@sync-platform-tests.iam.gserviceaccount.com",
) -> ServiceAccount:
    """A service-account key file like the one Google Cloud downloads (token_uri is Google's)."""
    key = generate_service_account_key(email)
    return ServiceAccount(key.email, key.info, key.public_key_pem)


class SkippingClock(FakeClock):
    """A fake clock whose ``sleep`` advances time immediately: backoffs and quota waits are free."""

    async def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


@pytest.fixture(scope="session")
def sheets_server() -> Iterator[SheetsEmulator]:
    with serve_sheets_emulator() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def service_account() -> ServiceAccount:
    return make_service_account()


@pytest.fixture
def skipping_clock() -> SkippingClock:
    return SkippingClock()


@pytest.fixture
def sheets(
    sheets_server: SheetsEmulator, service_account: ServiceAccount, skipping_clock: SkippingClock
) -> Iterator[SheetsEmulator]:
    sheets_server.reset()
    sheets_server.register_service_account(service_account.email, service_account.public_key_pem)
    sheets_server.quotas.monotonic = skipping_clock.monotonic
    yield sheets_server
    sheets_server.reset()


@pytest.fixture
def sheets_config(sheets: SheetsEmulator, service_account: ServiceAccount) -> dict[str, Any]:
    assert sheets.base_url is not None
    return {"service_account_json": service_account.key_json, "api_base_url": sheets.base_url}
