"""A sync raises the collector's thresholds for throughput, and never lowers a host's own."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sync_platform.gc_policy import OLDER_THRESHOLDS, YOUNG_THRESHOLD, favour_throughput


@pytest.fixture
def restored_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


@pytest.mark.usefixtures("restored_thresholds")
def test_default_thresholds_are_raised_for_a_sync() -> None:
    gc.set_threshold(700, 10, 10)
    favour_throughput()
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    assert gc.isenabled()


@pytest.mark.usefixtures("restored_thresholds")
def test_a_host_process_that_chose_higher_thresholds_keeps_them() -> None:
    gc.set_threshold(YOUNG_THRESHOLD * 2, 5, 1_000)
    favour_throughput()
    assert gc.get_threshold() == (YOUNG_THRESHOLD * 2, OLDER_THRESHOLDS[0], 1_000)
