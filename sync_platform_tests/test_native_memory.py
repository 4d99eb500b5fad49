"""Memory the process freed goes back to the system while a run goes on, and the command line's
threads share one heap (glibc's).

Each check runs in a fresh interpreter: a test process that already ran hundreds of tests has
heaps full of other holes and threads of its own, so its resident memory says little about one
allocation."""

from __future__ import annotations

import json
import os
import re
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


ARENAS_PROBE = """
import ctypes, sys, threading
{setup}
def allocate():
    kept = [bytes(4096) for _ in range(64)]  # past Python's small-object allocator: glibc's malloc
    del kept
threads = [threading.Thread(target=allocate) for _ in range(4)]
for thread in threads: thread.start()
for thread in threads: thread.join()
sys.stderr.flush()
ctypes.CDLL(None).malloc_stats()  # per arena, to the C library's stderr
"""


def _arenas_after_threads(setup: str, **env: str) -> int:
    probe = subprocess.run(
        [sys.executable, "-c", ARENAS_PROBE.format(setup=setup)],
        capture_output=True,
        text=True,
        check=True,
        env={**{k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}, **env},
    )
    return len(re.findall(r"^Arena \d+:", probe.stderr, re.MULTILINE))


def test_threads_of_a_plain_interpreter_get_arenas_of_their_own() -> None:
    """The control: what the policy changes is there to change on this machine."""
    assert _arenas_after_threads("") > 1


def test_the_command_lines_threads_share_one_arena() -> None:
    assert _arenas_after_threads("import sync_platform.cli") == 1


def test_an_operators_malloc_arena_max_wins() -> None:
    assert _arenas_after_threads("import sync_platform.cli", MALLOC_ARENA_MAX="3") > 1
