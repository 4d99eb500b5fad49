"""When generated objects were created: skewed to the recent past, in bursts, with many ties.

Real accounts are not uniform in time: a data import creates hundreds of objects in one second,
a billing run creates invoices in minutes, and recent months are busier than early ones. The
source splits ``created`` ranges to fetch them in parallel and must cope with a second that holds
more objects than a page, so the emulator's data has all three shapes.
"""

from __future__ import annotations

import random

IMPORT_BURST_SHARE = 0.10  # objects that share one single second
BURST_SHARE = 0.40  # objects created within seconds of one of the burst starts
OBJECTS_PER_BURST = 40
BURST_MEAN_SECONDS = 6.0
RECENCY_SKEW = 1.7  # > 1 makes recent times denser


def draw_created(rng: random.Random, count: int, *, start: int, end: int) -> list[int]:
    """``count`` creation times in ``[start, end)``, ascending."""
    if count <= 0:
        return []
    span = max(1, end - start)

    def recent(skew: float) -> int:
        return end - 1 - int(span * rng.random() ** skew)

    import_second = recent(2.0)
    burst_starts = [recent(1.5) for _ in range(max(1, count // OBJECTS_PER_BURST))]
    times: list[int] = []
    for _ in range(count):
        roll = rng.random()
        if roll < IMPORT_BURST_SHARE:
            moment = import_second
        elif roll < IMPORT_BURST_SHARE + BURST_SHARE:
            moment = rng.choice(burst_starts) + int(rng.expovariate(1 / BURST_MEAN_SECONDS))
        else:
            moment = recent(RECENCY_SKEW)
        times.append(min(max(moment, start), end - 1))
    times.sort()
    return times
