"""A sync raises the collector's thresholds for throughput, and never lowers a host's own."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from sync_platform.gc_policy import (
    LONG_BATCH,
    OLDER_THRESHOLDS,
    YOUNG_THRESHOLD,
    collect_after_batch,
    favour_throughput,
)


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


class _Cycle:
    """An object that references itself: reference counting alone never frees it."""

    def __init__(self) -> None:
        self.itself = self


@pytest.fixture
def collector_off() -> Iterator[None]:
    """Only explicit collections run, so what is collected is what the code under test collected."""
    gc.disable()
    yield
    gc.enable()


@pytest.mark.usefixtures("collector_off")
def test_a_long_batch_is_followed_by_a_full_collection_and_a_short_one_is_not() -> None:
    garbage = _Cycle()
    gc.collect()  # it survives: promoted to the oldest generation, like what a batch held throughout
    left = weakref.ref(garbage)
    del garbage
    assert left() is not None
    assert collect_after_batch(LONG_BATCH / 2) is False
    assert left() is not None
    assert collect_after_batch(LONG_BATCH) is True
    assert left() is None
