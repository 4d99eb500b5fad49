"""Stripe-looking ids: random ones from a seeded generator, and ever-increasing ones for events."""

from __future__ import annotations

import itertools
import os
import random
import string
import threading

ALPHABET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # ascending ASCII order
ID_LENGTH = 14


def random_id(prefix: str, rng: random.Random, length: int = ID_LENGTH) -> str:
    """``cus_`` + ``length`` random base-62 characters, reproducible for a seeded ``rng``."""
    return prefix + "".join(rng.choices(ALPHABET, k=length))


def request_id() -> str:
    """A fresh ``req_…`` id for the ``Request-Id`` header."""
    return "req_" + os.urandom(7).hex()


class MonotonicIds:
    """Ids whose string order is their creation order (``evt_0000001…`` < ``evt_0000002…``).

    Events created in the same second are listed newest first by id, so their ids must sort in the
    order they happened; a random tail keeps them looking like Stripe's.
    """

    def __init__(self, prefix: str, rng: random.Random | None = None) -> None:
        self._prefix = prefix
        self._counter = itertools.count(1)
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            number = next(self._counter)
            tail = "".join(self._rng.choices(ALPHABET, k=10))
        return f"{self._prefix}{_base62(number, width=8)}{tail}"


def _base62(number: int, *, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, len(ALPHABET))
        digits.append(ALPHABET[remainder])
    return "".join(reversed(digits)).rjust(width, ALPHABET[0])
