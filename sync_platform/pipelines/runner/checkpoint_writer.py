"""Saves a lane's committed checkpoints while its batch runs, so a kill repeats almost nothing.

The engine calls ``offer`` with the folded state each time the destination re-emitted a state
(everything before it is durable). A writer thread saves the latest offered state, then the
latest again, and so on: while one save is in flight newer states replace the waiting one, so
the database sees one write at a time however fast pages commit, and a state reaches it within
about one write's time of its commit. A run killed at any moment resumes from a checkpoint at
most a write behind its destination: in practice, each in-flight range repeats one page.

A save costs time in proportion to the whole state, and a Connect platform's state holds an entry
per account and stream (1,000 accounts x 10 streams: about 1.3 MB of JSON: ~1 ms to write with
orjson, several more to send and for the server to store). Saved back to back, those writes took
a fifth of the client's CPU; so after a save that took ``d`` seconds the writer rests
``WRITE_PACING x (d - SMALL_WRITE)`` before the next one (woken at once by ``finish`` and
``save_now``). A small state (one account's: a save of a millisecond or two) is saved back to
back as before, so a killed run still repeats about one page per range in flight; a big one is
saved within about ten writes' time (at 1,000 accounts, about twice a second: less than the small
pages the engine's coalescer may hold back anyway), and saving it takes at most about a tenth of
the wall time. A floor of a second between big saves was tried and not kept: the duration says
"big" only on a quiet machine, and on a loaded one a small state's 6 ms save rested a whole
second, so a kill repeated many pages.

A tenth of the time is not a tenth of the work, though: a Connect platform's backfill at 100
requests/s keeps ~0.1 core busy besides the saves, and a save writes out every account's entry or
count. Paced by time alone, saves were a tenth of the client's CPU at 1,000 accounts
(``benchmarks/connect.py``: 0.97 against 0.87 ms per request with no periodic saves). A big save
also rests until it is at most ``SAVE_CPU_SHARE`` (a twentieth) of the process's CPU since the
previous one ended (the writer measures its own thread's CPU and the process's), but never more
than ``MAX_CPU_REST`` (5 s): a run killed then repeats at most that much of its pages, each an
idempotent upsert. At 1,000 accounts that measured 1.07-1.12 -> 1.04 ms per request. At 10,000 a
save's own duration already rested it ~5 s, and saves there are still ~7 % of the CPU (1.27
against 1.18 without them). A busy process (one account's backfill at full speed) rests by time,
as before (``rest_after``).

The rest never delays a stream's end: the runner calls ``save_now`` when a stream reaches a
terminal status, which saves the state offered last (the stream's final checkpoint) without
resting and returns once it is stored. What reads the checkpoints on that status, such as
Dagster's materialization counting a Connect platform's accounts by status, sees the stream's
end, not a state a rest behind it.

Saves are version-checked (``expected_version``): a second writer on the same lane (which the run
lock already prevents) would stop this one with ``ConcurrentUpdateError`` instead of interleaving.
A save whose connection dropped during COMMIT is retried by the store; if the first attempt had
in fact committed, the version moved by our own write: ``_write`` recognises its state and goes on.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable

from sync_platform.pipelines.checkpoints import CheckpointLane, state_json
from sync_platform.pipelines.errors import ConcurrentUpdateError
from sync_platform.pipelines.run_lock import RunLock
from sync_platform.pipelines.store import PipelineStore
from sync_platform.protocol import SyncState

logger = logging.getLogger(__name__)

LOCK_CHECK_SECONDS = 5.0
WRITE_PACING = 10.0  # rest this many times a big save's duration (beyond SMALL_WRITE) before the next
SMALL_WRITE = 0.005  # seconds: saves shorter than this are never paced
SAVE_CPU_SHARE = 0.05  # a big state's saves take at most about this share of the process's CPU...
MAX_CPU_REST = 5.0  # ...unless that would rest longer than this many seconds


def rest_after(seconds: float, save_cpu: float, others_cpu_rate: float) -> float:
    """How long to rest after a save that took ``seconds`` and ``save_cpu`` seconds of this
    thread's CPU, while the rest of the process used ``others_cpu_rate`` CPU seconds a second.

    A small save (under ``SMALL_WRITE``) never rests. A big one rests the longer of
    ``WRITE_PACING`` times its duration (saves take at most about a tenth of the time) and what
    keeps its CPU to ``SAVE_CPU_SHARE`` of the process's, at most ``MAX_CPU_REST``: the rest of
    the run works ``others_cpu_rate x (seconds + rest)`` meanwhile, and ``save_cpu`` is to be at
    most that share of it and itself."""
    if seconds <= SMALL_WRITE:
        return 0.0
    by_time = WRITE_PACING * (seconds - SMALL_WRITE)
    others_needed = save_cpu * (1 - SAVE_CPU_SHARE) / SAVE_CPU_SHARE
    if others_needed >= others_cpu_rate * (seconds + MAX_CPU_REST):  # a quiet process: the longest rest
        return max(by_time, MAX_CPU_REST)
    return max(by_time, others_needed / others_cpu_rate - seconds)


class CheckpointWriter:
    """Writes one lane's checkpoints for one batch; ``finish`` saves the batch's final state."""

    def __init__(
        self,
        store: PipelineStore,
        pipeline_id: str,
        lane: CheckpointLane,
        version: int,
        *,
        lock: RunLock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        cpu_clocks: tuple[Callable[[], float], Callable[[], float]] = (time.process_time, time.thread_time),
    ) -> None:
        self.store = store
        self.pipeline_id = pipeline_id
        self.lane = lane
        self.version = version
        self.lock = lock
        self._monotonic = monotonic
        self._process_cpu, self._thread_cpu = cpu_clocks  # the process's CPU, and the calling thread's
        self._lock_checked = monotonic()
        self._changed = threading.Condition()
        self._pending: SyncState | None = None
        self._offered = 0  # states offered so far
        self._stored = 0  # the number of the offered state saved last
        self._hurry = False  # ``save_now`` is waiting: no rest before the next save
        self._saved: list[SyncState] = []
        # Weak: only ``finish`` asks whether its state is the one written last, and a strong
        # reference kept that state (a save behind the fold) alive: at 10,000 Connect accounts an
        # extra copy of every stream checkpoint that had moved on since (~0.3 MB each).
        self._last_written: weakref.ref[SyncState] | None = None
        self._error: BaseException | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name=f"checkpoints {pipeline_id}", daemon=True)
        self._thread.start()

    def offer(self, state: SyncState) -> None:
        """A newly committed state (called on the engine's event loop: only a hand-over here)."""
        with self._changed:
            self._pending = state
            self._offered += 1
            self._changed.notify_all()

    def save_now(self) -> None:
        """Save the state offered last, without the rest after a big save, and return once it is
        stored (at once if it already is); raises what the writer failed with."""
        with self._changed:
            wanted = self._offered
            self._hurry = True
            self._changed.notify_all()
            while self._stored < wanted and self._error is None and self._thread.is_alive():
                self._changed.wait()
            self._hurry = False
            if self._error is not None:
                raise self._error

    def take_saved(self) -> list[SyncState]:
        """States saved since the last call, oldest first; raises what the writer failed with."""
        with self._changed:
            if self._error is not None:
                raise self._error
            saved, self._saved = self._saved, []
        return saved

    def finish(self, final: SyncState | None) -> None:
        """Save what is still waiting, stop the thread, then save ``final`` (the batch's end state)."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._thread.join()
        if self._error is not None:
            raise self._error
        if final is not None and (self._last_written is None or final is not self._last_written()):
            self._write(final)

    def _loop(self) -> None:
        rest_until = 0.0
        cycle_from, process_from = self._monotonic(), self._process_cpu()  # since the last save's end
        while True:
            with self._changed:
                while not self._closing and (
                    self._pending is None or (self._monotonic() < rest_until and not self._hurry)
                ):
                    self._changed.wait(None if self._pending is None else rest_until - self._monotonic())
                state, self._pending, number = self._pending, None, self._offered
                if state is None:
                    return
            started, thread_from = self._monotonic(), self._thread_cpu()
            if not self._save(state, number):
                return
            del state  # not kept while this thread waits: the fold has newer stream checkpoints
            finished, process_now = self._monotonic(), self._process_cpu()
            save_cpu = self._thread_cpu() - thread_from
            others_rate = max(0.0, process_now - process_from - save_cpu) / max(finished - cycle_from, 1e-3)
            cycle_from, process_from = finished, process_now
            rest_until = finished + rest_after(finished - started, save_cpu, others_rate)

    def _save(self, state: SyncState, number: int) -> bool:
        """Write ``state`` (offered as ``number``) and hand it to ``take_saved``; False if the
        write failed (the error is kept for ``take_saved`` and ``finish``)."""
        try:
            self._write(state)
        except BaseException as error:  # reported to the run by take_saved / finish
            logger.warning("could not save a %s checkpoint of %s: %s", self.lane, self.pipeline_id, error)
            with self._changed:
                self._error = error
                self._changed.notify_all()
            return False
        with self._changed:
            self._saved.append(state)
            self._stored = number
            self._changed.notify_all()
        return True

    def _write(self, state: SyncState) -> None:
        if self.lock is not None and self._monotonic() - self._lock_checked >= LOCK_CHECK_SECONDS:
            self.lock.verify()
            self._lock_checked = self._monotonic()
        try:
            self.version = self.store.save_checkpoint(
                self.pipeline_id, state, lane=self.lane, expected_version=self.version
            )
        except ConcurrentUpdateError:
            current = self.store.get_checkpoint(self.pipeline_id, self.lane)
            if current.state != state_json(state) or current.version != self.version + 1:
                raise
            self.version = current.version  # our own write had committed before its connection died
        self._last_written = weakref.ref(state)
