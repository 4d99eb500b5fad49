"""Handing memory the process freed back to the operating system while a long run goes on.

CPython asks the C library (glibc on Linux) for every block over 512 bytes. A Connect platform's
run allocates and frees big blocks all the time: a committed checkpoint's ``accounts`` dict
(~300 KB at 10,000 accounts, four a second), a save's JSON (a stream at a time, ~1 MB each), the
pages in flight. glibc keeps what is freed in its heaps for reuse and returns it to the system
only from the top of a heap, so a run's resident memory grew with the holes between live blocks:
at 10,000 accounts ~15 MiB more than the live Python objects explain, which was most of what
still grew from 1,000 accounts to 10,000. ``malloc_trim(0)`` gives every whole free page of every
heap back (``MADV_DONTNEED``); called every few seconds while a run goes on
(``trimming_freed_memory``), resident memory follows live memory. It costs well under a
millisecond a call at these heap sizes.

Trimming cannot give back a page that still holds one live block, and glibc spreads a run's
blocks over more heaps than it needs: a thread that allocates while another holds the main heap's
lock is given an arena of its own (up to eight per core), each with holes of its own. A sync has a
few threads that allocate what grows with a Connect platform's accounts (the event loop's, the
checkpoint writer's, PostgreSQL's writer queue). The command line keeps them to the main heap
(``one_heap``, called at its entry before any thread starts): measured side by side on
``benchmarks/connect.py`` at 10,000 accounts and 400 requests/s, the free space left in the heaps
was 3.6 MiB instead of 12.8 while the run went on, and the peak RSS 106 MiB instead of 109, for the
same CPU (the threads mostly wait on sockets, so one lock costs nothing measurable). Host processes
(the Dagster code server, the HTTP service) keep glibc's default: they may run many busy threads.

Elsewhere (macOS, musl) there is no ``malloc_trim`` or ``mallopt`` and this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TRIM_EVERY_SECONDS = 1.0
M_ARENA_MAX = -8
"""``mallopt``'s parameter for the most arenas (heaps) glibc makes (``malloc.h``)."""


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library this process already runs on, if it is glibc (musl has neither call)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if (libc := _glibc()) is None:
        return None
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def one_heap() -> bool:
    """Keep every thread's blocks in glibc's main heap (see the module docstring); True if done.

    Effective for threads that have not allocated yet, so a process calls it first thing. An
    operator's ``MALLOC_ARENA_MAX`` wins."""
    if "MALLOC_ARENA_MAX" in os.environ or (libc := _glibc()) is None:
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt(M_ARENA_MAX, 1) == 1


def release_freed_memory() -> bool:
    """Give the C library's free pages back to the system now; False where that is not possible."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@contextmanager
def trimming_freed_memory(every: float = TRIM_EVERY_SECONDS) -> Iterator[None]:
    """Release freed memory every ``every`` seconds (a daemon thread) until the block ends."""
    if _malloc_trim() is None:
        yield
        return
    stop = threading.Event()

    def trim_until_stopped() -> None:
        while not stop.wait(every):
            release_freed_memory()

    thread = threading.Thread(target=trim_until_stopped, name="release freed memory", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        release_freed_memory()
