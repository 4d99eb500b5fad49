"""Memory the process freed goes back to the system while a run goes on (glibc's heaps)."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from sync_platform.native_memory import release_freed_memory, trimming_freed_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")

BLOCK = 64 * 1024  # under glibc's mmap threshold: such blocks live in its heap
BLOCKS = 1_600  # 100 MiB


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def fragmented_and_freed() -> tuple[float, bytes]:
    """Resident MiB after allocating 100 MiB of heap blocks and freeing all but the last one,
    which keeps the heap's top in place (so nothing freed below it goes back on its own)."""
    blocks = [bytes(BLOCK) for _ in range(BLOCKS)]
    kept = bytes(BLOCK)
    del blocks
    return resident_mib(), kept


def test_freed_heap_memory_is_released_on_request() -> None:
    before = resident_mib()
    freed, _kept = fragmented_and_freed()
    assert freed - before > 40, "the freed blocks stayed resident"
    assert release_freed_memory()
    assert resident_mib() < freed - 40


def trimmers() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "release freed memory"}


def test_a_run_releases_freed_memory_every_interval_and_stops_with_the_block() -> None:
    earlier = trimmers()  # other runs of this test process may have theirs
    with trimming_freed_memory(every=0.05):
        (ours,) = trimmers() - earlier
        freed, _kept = fragmented_and_freed()
        deadline = time.monotonic() + 10
        while resident_mib() > freed - 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert resident_mib() < freed - 40, f"still {resident_mib():.0f} MiB resident of {freed:.0f}"
    assert not ours.is_alive()
