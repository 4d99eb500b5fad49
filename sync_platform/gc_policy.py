"""The garbage collector tuned for moving records and for starting: collect young objects less often.

A sync allocates millions of short-lived, acyclic containers (every parsed page is a tree of dicts
and lists) that reference counting frees at once. CPython's cyclic collector does not know that: by
default it scans the youngest generation every 700 net allocations and promotes survivors, so a
page held while its records are written is scanned again and again, and each full collection walks
every live object of the process. Measured on the emulator's pages (charges and invoices of 100
objects, ``benchmarks/end_to_end.py``'s data): parsing costs 54–89 µs per object with the default
thresholds and 13–29 µs with the ones below, about what it costs with the collector off.

Starting is the same pattern: a command imports ~700 modules, whose classes, functions and
constants live as long as the process, and with the default thresholds the collector scanned them
~175 times while they were made (~7 % of a sync's start-up, 30–40 ms of CPU), so the command line
raises the thresholds before it imports anything (``sync_platform/cli/__init__.py``). This module
is top-level, outside the engine's package, so that importing it imports nothing else.

The collector stays on (a reference cycle is still collected, just less eagerly) and the thresholds
are only ever raised, never lowered, so a host process that chose its own keeps them.

Less eagerly is too late for what a batch held from its start to its end. Objects that live that
long are promoted to the oldest generation, which the raised thresholds collect about once per 100
million net allocations (and CPython waits, besides, until a quarter of the objects there are new).
Whatever of a batch sits in a reference cycle (a Connect read's accounts and the parts its streams
share, exceptions' tracebacks and their frames, pydantic's schema generators; the PostgreSQL
writer's layouts and statements, until its commit fence stopped holding the writer) then outlived
the batch, next to the next batch's own: on a 10,000-account backfill each batch boundary raised
the peak RSS by 3–4 MiB, and a 1,000-account run in batches of 40 checkpoints kept ~2,000 more
statement objects per batch. So the pipeline runner collects every generation once a long batch has
ended (``collect_after_batch``), when that batch's structures have just become garbage: one full
collection (~50 ms of CPU with a sync's modules loaded) after a batch of at least ``LONG_BATCH``
seconds is at most ~2.5 % of its time, and a short batch's objects are young, which the young
generations' collections still reach.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Net allocations between two collections of the youngest generation (CPython's default: 700)."""
OLDER_THRESHOLDS = (20, 100)
"""Collections of one generation between two of the next (defaults: 10, 10)."""


def favour_throughput() -> None:
    """Raise the collector's thresholds to ``YOUNG_THRESHOLD`` and ``OLDER_THRESHOLDS`` (idempotent)."""
    current = gc.get_threshold()
    wanted = (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    gc.set_threshold(*(max(have, want) for have, want in zip(current, wanted, strict=True)))


LONG_BATCH = 2.0
"""A batch that ran at least this long (seconds) is followed by a full collection."""


def collect_after_batch(seconds: float) -> bool:
    """Collect every generation if the batch that just ended ran ``seconds >= LONG_BATCH``; True
    when it did (see the module docstring)."""
    if seconds < LONG_BATCH:
        return False
    gc.collect()
    return True
