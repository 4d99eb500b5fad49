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

Elsewhere (macOS, musl) there is no ``malloc_trim`` and this does nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TRIM_EVERY_SECONDS = 1.0


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)  # the C library this process already runs on
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:  # musl
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


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
