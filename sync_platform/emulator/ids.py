"""Stripe-looking ids: random ones from a seeded generator, and ever-increasing ones for events."""

from __future__ import annotations

import itertools
import os
import random
import string
import threading
import time

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ascending ASCII order
ID_LENGTH = 14


def random_id(prefix: str, rng: random.Random, length: int = ID_LENGTH) -> str:
    """``cus_`` + ``length`` random base-62 characters, reproducible for a seeded ``rng``."""
    return prefix + "".join(rng.choices(ALPHABET, k=length))


def request_id() -> str:
    """A fresh ``req_…`` id for the ``Request-Id`` header."""
    return "req_" + os.urandom(7).hex()


class MonotonicIds:
    """Ids whose string order is their creation order, unique across emulator starts.

    Events created in the same second are listed newest first by id, so their ids must sort in the
    order they happened; a random tail keeps them looking like Stripe's. The leading start time
    makes an emulator restarted with the same seed (``demo`` then ``dev``) issue new ids, as Stripe
    never reuses one: a reused event id would be taken for a redelivery and dropped by receivers.
    """

    def __init__(self, prefix: str, rng: random.Random | None = None, *, started: int | None = None) -> None:
        self._prefix = prefix + _base62(int(time.time()) if started is None else started, width=6)
        self._counter = itertools.count(1)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            number = next(self._counter)
            tail = "".join(self._rng.choices(ALPHABET, k=8))
        return f"{self._prefix}{_base62(number, width=6)}{tail}"


def _base62(number: int, *, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])
