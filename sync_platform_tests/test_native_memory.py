"""Memory the process freed goes back to the system while a run goes on (glibc's heaps).

Each check runs in a fresh interpreter: a test process that already ran hundreds of tests has
heaps full of other holes and threads of its own, so its resident memory says little about one
allocation."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux's")

CHECK = """
import json, os, sys, threading, time
from sync_platform.native_memory import release_freed_memory, trimming_freed_memory

def resident_mib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

def trimmers():
    return [thread for thread in threading.enumerate() if thread.name == "release freed memory"]

def fragmented_and_freed():
    # 100 MiB of 64 KiB blocks (under glibc's mmap threshold: they live in its heap), all freed
    # but one allocated last, which keeps the heap's top in place
    blocks = [bytes(64 * 1024) for _ in range(1600)]
    kept = bytes(64 * 1024)
    allocated = resident_mib()
    del blocks
    return allocated, resident_mib(), kept

before = resident_mib()
if sys.argv[1] == "on request":
    allocated, freed, kept = fragmented_and_freed()
    released = release_freed_memory()
    after, alive = resident_mib(), False
else:
    with trimming_freed_memory(every=0.05):
        (ours,) = trimmers()
        allocated, freed, kept = fragmented_and_freed()
        time.sleep(0.5)
        after, released = resident_mib(), True
    alive = ours.is_alive()
print(json.dumps({
    "before": before, "allocated": allocated, "freed": freed, "after": after,
    "released": released, "alive": alive,
}))
"""


def measured(how: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, how], capture_output=True, text=True, timeout=60, check=True
    )
    return json.loads(done.stdout)


def test_freed_heap_memory_is_released_on_request() -> None:
    figures = measured("on request")
    assert figures["freed"] - figures["before"] > 40, f"glibc kept the freed blocks resident: {figures}"
    assert figures["released"]
    assert figures["after"] < figures["freed"] - 40, figures


def test_a_run_releases_freed_memory_every_interval_and_stops_with_the_block() -> None:
    figures = measured("every interval")
    assert figures["allocated"] - figures["before"] > 40, figures
    assert figures["after"] < figures["allocated"] - 40, figures
    assert not figures["alive"]
