"""The request policy: pacing inside the quota window, and backoff that outlasts a throttle."""

from __future__ import annotations

import asyncio

import pytest

from sync_platform.destinations.google_sheets import GoogleSheetsDestinationConfig
from sync_platform.destinations.google_sheets.api import RetryPolicy, WritePacer
from sync_platform_tests.plugins.sheets_server import SkippingClock


def test_the_default_backoff_always_outlasts_a_full_quota_window() -> None:
    """Google's write quota is per minute: even with the unluckiest jitter, the default retries
    wait longer than one window in total, so a throttle from the quota clears before they run out."""
    defaults = GoogleSheetsDestinationConfig.model_fields
    policy = RetryPolicy(
        defaults["max_retries"].default,
        defaults["retry_initial_seconds"].default,
        defaults["retry_max_seconds"].default,
    )
    shortest_total = sum(
        min(policy.max_seconds, policy.initial_seconds * 2**n) * 0.5 for n in range(policy.max_retries)
    )
    assert shortest_total > defaults["quota_window_seconds"].default


@pytest.mark.parametrize("attempt", range(10))
def test_a_retry_after_header_is_honoured_up_to_the_cap(attempt: int) -> None:
    policy = RetryPolicy(8, 1.0, 64.0)
    assert policy.delay(attempt, retry_after=7.0) == 7.0
    assert policy.delay(attempt, retry_after=500.0) == 64.0
    assert 0.5 * min(64.0, 2**attempt) <= policy.delay(attempt, None) <= min(64.0, 2**attempt)


def test_the_pacer_never_lets_more_than_the_quota_complete_within_a_window() -> None:
    clock = SkippingClock()
    pacer = WritePacer(limit=3, window=60.0, clock=clock)

    async def send(count: int) -> list[float]:
        sent = []
        for _ in range(count):
            await pacer.wait_for_slot()
            sent.append(clock.monotonic())
            clock.advance(0.5)  # the request takes half a second
            pacer.completed()
        return sent

    sent = asyncio.run(send(7))
    assert sent[:3] == [0.0, 0.5, 1.0]
    for earlier, later in zip(sent, sent[3:], strict=False):
        assert later >= earlier + 60.0  # the 4th starts a full window after the 1st finished
