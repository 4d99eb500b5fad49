"""Connected accounts, made on demand and cheaply: a few template accounts stamped per account.

A Connect platform can have 10,000 accounts. Synthesizing every object from the SDK's types costs
about 1 ms each, so 10,000 accounts of 50 objects would take over eight minutes before the first
request. Instead, ``TEMPLATES`` accounts are generated in full (relations, nested lists, bursts
of same-second objects) and each connected account is a copy of one of them, chosen by a hash of
its id: every id is replaced by one derived from the account (so ids are unique across accounts and
links within an account still agree), and ``created``/``updated`` move back by an offset of up to
180 days. That costs tens of microseconds per object, and only when an account is first touched,
so start-up does not depend on the number of accounts. The same seed and account id always give
the same account.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from sync_platform.emulator.generator import (
    SECONDS_PER_DAY,
    DatasetConfig,
    GeneratedAccount,
    account_generator,
    plan_counts,
)
from sync_platform.emulator.ids import ALPHABET

TEMPLATES = 4
SIZE_FACTORS = (0.4, 0.8, 1.2, 1.6)  # template k holds per-account objects x factor: ~20-100 for 50
MAX_SHIFT_DAYS = 180


def connected_objects(config: DatasetConfig) -> int:
    return config.connected_objects if config.connected_objects is not None else config.objects // 4


@functools.lru_cache(maxsize=16)
def _template(config: DatasetConfig, k: int) -> GeneratedAccount:
    size = round(connected_objects(config) * SIZE_FACTORS[k])
    return account_generator(config, f"acct_template{k}", plan_counts(size), connected=True).generate()


@functools.lru_cache(maxsize=16)
def _account_template(config: DatasetConfig) -> dict[str, Any]:
    generator = account_generator(config, "acct_template", {}, connected=True)
    generator.seed("account")
    return generator.account_object()


def _digest(config: DatasetConfig, account_id: str) -> bytes:
    return hashlib.blake2b(f"{config.seed}:{account_id}".encode(), digest_size=16).digest()


def account_object(config: DatasetConfig, account_id: str) -> dict[str, Any]:
    """The connected account as ``/v1/account`` and the platform's ``/v1/accounts`` show it."""
    digest = _digest(config, account_id)
    # before its oldest object: templates start at `config.start` and move back MAX_SHIFT_DAYS at most
    before = (MAX_SHIFT_DAYS + 30) * SECONDS_PER_DAY
    created = config.start - before - int.from_bytes(digest[:4]) % (365 * SECONDS_PER_DAY)
    return {**_account_template(config), "id": account_id, "created": created}


def connected_account(config: DatasetConfig, account_id: str) -> GeneratedAccount:
    """The generated data of one connected account (a stamped copy of a template)."""
    digest = _digest(config, account_id)
    template = _template(config, digest[4] % TEMPLATES)
    shift = int.from_bytes(digest[5:8]) % (MAX_SHIFT_DAYS * SECONDS_PER_DAY)
    stamp = _Stamp(account_id, shift)
    objects = {name: [stamp.object(obj) for obj in objects] for name, objects in template.objects.items()}
    created_times = {name: [t - shift for t in times] for name, times in template.created_times.items()}
    children = {
        key: {stamp.id(parent): [stamp.value(item) for item in items] for parent, items in by_parent.items()}
        for key, by_parent in template.children.items()
    }
    return GeneratedAccount(account_object(config, account_id), objects, created_times, children)


class _Stamp:
    """Rewrites a template object for one account: new ids everywhere, times moved back."""

    def __init__(self, account_id: str, shift: int) -> None:
        self.salt = account_id.encode()
        self.shift = shift
        self.ids: dict[str, str] = {}

    def id(self, old: str) -> str:
        new = self.ids.get(old)
        if new is None:
            prefix, _, tail = old.rpartition("_")
            digest = hashlib.blake2b(old.encode(), key=self.salt[:64], digest_size=16).digest()
            new = f"{prefix}_" + "".join(ALPHABET[b % len(ALPHABET)] for b in digest)[: max(len(tail), 8)]
            self.ids[old] = new
        return new

    def object(self, obj: dict[str, Any]) -> dict[str, Any]:
        stamped = self.value(obj)
        for key in ("created", "updated"):
            if isinstance(stamped.get(key), int):
                stamped[key] -= self.shift
        return stamped

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, str) and "_" in value and _looks_like_id(value):
            return self.id(value)
        return value


def _looks_like_id(value: str) -> bool:
    prefix, _, tail = value.rpartition("_")
    return bool(prefix) and len(tail) >= 8 and tail.isalnum() and prefix.replace("_", "").isalpha()
