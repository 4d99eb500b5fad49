"""A deterministic Stripe dataset: N objects across every stream, with consistent relations.

The same ``DatasetConfig`` always yields the same objects (ids, times, values), because every
random choice comes from a generator seeded with the config's seed, the account and the stream.
Streams are generated in dependency order (customers before the invoices that point at them), and
an expandable field that refers to a generated stream holds the id of an object created no later
than its own (or the oldest one, when none is that old). ``relations`` then makes the main links
agree with each other (an invoice's customer is its subscription's customer, a refund refunds
part of its charge).
"""

from __future__ import annotations

import bisect
import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe

from sync_platform.emulator.ids import random_id
from sync_platform.emulator.relations import CHILD_COUNTS, DEPENDS_ON, SHAPERS
from sync_platform.emulator.timeline import draw_created
from sync_platform.emulator.values import ObjectSynthesizer
from sync_platform.sources.stripe import StripeStreamDefinition, stream_for_object, stripe_catalog
from sync_platform.sources.stripe.id_prefixes import id_prefix
from sync_platform.sources.stripe.sdk_fields import FieldKind

DEFAULT_ANCHOR = 1_767_225_600  # 2026-01-01T00:00:00Z: generated data ends here, whatever today is
DEFAULT_SPAN_DAYS = 730
SECONDS_PER_DAY = 86_400
# Relative sizes of the streams most accounts are made of; every other stream gets THIN_WEIGHT.
POPULAR_WEIGHTS: Mapping[str, float] = {
    "customer": 10,
    "invoice": 14,
    "charge": 12,
    "payment_intent": 12,
    "subscription": 7,
    "invoiceitem": 4,
    "payment_method": 4,
    "price": 4,
    "product": 3,
    "refund": 3,
    "checkout_session": 3,
    "setup_intent": 2,
    "credit_note": 1.5,
    "coupon": 1,
    "plan": 1,
    "promotion_code": 1,
    "payout": 1,
    "transfer": 1,
    "tax_rate": 0.5,
    "dispute": 0.5,
}
THIN_WEIGHT = 0.12
# References run both ways (a subscription has a latest invoice, an invoice has a subscription); where
# they form a cycle, the stream that comes first in a real account's life is generated first.
CREATION_ORDER = (
    "customer", "product", "price", "plan", "coupon", "promotion_code", "payment_method", "subscription",
    "invoice", "payment_intent", "charge", "refund", "dispute",
)  # fmt: skip


@dataclass(frozen=True)
class DatasetConfig:
    """What to generate. ``counts`` fixes the size of named streams; the rest share ``objects``."""

    seed: int = 0
    objects: int = 1_000
    counts: tuple[tuple[str, int], ...] = ()
    connected_accounts: int = 0
    connected_objects: int | None = None  # per connected account; default objects // 4
    anchor: int = DEFAULT_ANCHOR
    span_days: int = DEFAULT_SPAN_DAYS

    @property
    def start(self) -> int:
        return self.anchor - self.span_days * SECONDS_PER_DAY


@dataclass
class GeneratedAccount:
    """One account's generated objects, oldest first per stream, and their nested-list items."""

    account_object: dict[str, Any]
    objects: dict[str, list[dict[str, Any]]]
    # creation time of each object, aligned with `objects` (some types have no `created` field)
    created_times: dict[str, list[int]]
    children: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


@dataclass
class GeneratedDataset:
    """The platform's data, generated up front, and the ids of its connected accounts, whose data
    is made when first asked for (``connected_account``), so 10,000 accounts start in a second."""

    config: DatasetConfig
    platform: GeneratedAccount
    connected_ids: list[str]

    def connected_account(self, account_id: str) -> GeneratedAccount:
        from sync_platform.emulator.connected import connected_account  # it builds on this module

        return connected_account(self.config, account_id)

    @property
    def connected(self) -> list[GeneratedAccount]:
        return [self.connected_account(account_id) for account_id in self.connected_ids]

    def accounts(self) -> list[GeneratedAccount]:
        return [self.platform, *self.connected]


def plan_counts(total: int, overrides: Mapping[str, int] | None = None) -> dict[str, int]:
    """Objects per stream: ``overrides`` as given, ``total`` spread by weight over the others.

    Largest remainders keep the sum exact; with at least two objects per stream available, every
    stream gets at least one, so no endpoint of the catalog is empty.
    """
    overrides = dict(overrides or {})
    names = [d.name for d in stripe_catalog() if d.name != "account" and d.name not in overrides]
    weights = {name: POPULAR_WEIGHTS.get(name, THIN_WEIGHT) for name in names}
    floor = 1 if total >= 2 * len(names) else 0
    remaining = max(0, total - floor * len(names))
    scale = remaining / sum(weights.values()) if weights else 0.0
    exact = {name: weights[name] * scale for name in names}
    counts = {name: floor + int(exact[name]) for name in names}
    shortfall = total - sum(counts.values())
    for name in sorted(names, key=lambda n: (int(exact[n]) - exact[n], n))[: max(0, shortfall)]:
        counts[name] += 1
    return {**counts, **overrides}


@functools.lru_cache(maxsize=8)
def generate_dataset(config: DatasetConfig) -> GeneratedDataset:
    """The dataset for ``config`` (cached: emulators built from one config share it read-only)."""
    root = random.Random(f"sync-platform-emulator:{config.seed}")
    platform_id = random_id("acct_", root, 16)
    connected_ids = [random_id("acct_", root, 16) for _ in range(config.connected_accounts)]
    platform = _AccountGenerator(
        config, platform_id, plan_counts(config.objects, dict(config.counts))
    ).generate()
    from sync_platform.emulator.connected import account_object  # it builds on this module

    accounts = sorted((account_object(config, i) for i in connected_ids), key=lambda a: int(a["created"]))
    platform.objects["account"] = accounts
    platform.created_times["account"] = [int(account["created"]) for account in accounts]
    return GeneratedDataset(config=config, platform=platform, connected_ids=connected_ids)


def account_generator(
    config: DatasetConfig, account_id: str, counts: Mapping[str, int], *, connected: bool = False
) -> _AccountGenerator:
    """The generator of one account's data (``connected`` builds templates of connected accounts)."""
    return _AccountGenerator(config, account_id, counts, connected=connected)


class _AccountGenerator:
    """Generates one account: streams in dependency order, then nested-list items."""

    def __init__(
        self, config: DatasetConfig, account_id: str, counts: Mapping[str, int], *, connected: bool = False
    ) -> None:
        self.config = config
        self.account_id = account_id
        self.counts = counts
        self.connected = connected
        self.objects: dict[str, list[dict[str, Any]]] = {}
        self.created_by_stream: dict[str, list[int]] = {}
        self.children: dict[tuple[str, str], dict[str, list[dict[str, Any]]]] = {}
        self.current_created = config.anchor
        self.rng = random.Random()
        self.synthesizer = ObjectSynthesizer(self.rng, self.pick_reference)

    def seed(self, scope: str) -> None:
        self.rng.seed(f"{self.config.seed}:{self.account_id}:{scope}")

    def generate(self) -> GeneratedAccount:
        for definition in _generation_order():
            self.objects[definition.name] = self.generate_stream(
                definition, self.counts.get(definition.name, 0)
            )
        self.seed("account")
        account_object = self.account_object()
        return GeneratedAccount(account_object, self.objects, self.created_by_stream, self.children)

    def generate_stream(self, definition: StripeStreamDefinition, count: int) -> list[dict[str, Any]]:
        self.seed(definition.name)
        created_times = draw_created(self.rng, count, start=self.config.start, end=self.config.anchor)
        generated: list[dict[str, Any]] = []
        self.created_by_stream[definition.name] = []
        for created in created_times:
            self.current_created = created
            obj = self.new_object(definition, created)
            self.add_children(definition, obj)
            shaper = SHAPERS.get(definition.name)
            if shaper is not None:
                shaper(self, obj)
            generated.append(obj)
            self.created_by_stream[definition.name].append(created)
            self.objects[definition.name] = generated
        return generated

    def new_object(self, definition: StripeStreamDefinition, created: int) -> dict[str, Any]:
        assert definition.sdk_class is not None  # every catalog stream comes from an SDK class
        obj = self.synthesizer.build(definition.sdk_class, created=created)
        obj["id"] = random_id(definition.id_prefix, self.rng)
        obj["object"] = definition.object_name
        if definition.has_updated_field:
            obj["updated"] = min(
                self.config.anchor - 1, created + self.rng.choice((0, 0, 60, 3_600, 86_400 * 9))
            )
        obj.pop("deleted", None)
        return obj

    def add_children(self, definition: StripeStreamDefinition, parent: dict[str, Any]) -> None:
        for nested in definition.nested_lists:
            low, high, big_share, big_range = CHILD_COUNTS.get(
                (definition.name, nested.field), (0, 0, 0.0, (0, 0))
            )
            if high == 0:
                continue
            item_class = _nested_item_class(definition, nested.field)
            count = (
                self.rng.randint(*big_range) if self.rng.random() < big_share else self.rng.randint(low, high)
            )
            parent_field = definition.object_name.rsplit(".", 1)[-1]
            items = []
            for _ in range(count):
                item = self.synthesizer.build(item_class, created=self.current_created, depth=1)
                item["id"] = random_id(_prefix_of(item_class), self.rng)
                item["object"] = getattr(item_class, "OBJECT_NAME", None)
                if parent_field in item:
                    item[parent_field] = parent["id"]
                items.append(item)
            self.children.setdefault((definition.name, nested.field), {})[parent["id"]] = items

    def children_of(self, stream: str, field_name: str, parent_id: str) -> list[dict[str, Any]]:
        return self.children.get((stream, field_name), {}).get(parent_id, [])

    def pick(self, stream: str, *, not_after: int | None = None) -> dict[str, Any] | None:
        """A random existing object of ``stream``, created no later than ``not_after`` when possible."""
        objects = self.objects.get(stream) or []
        if not objects:
            return None
        created = self.created_by_stream.get(stream, [])
        limit = bisect.bisect_right(created, self.current_created if not_after is None else not_after)
        # Nothing that old: the oldest object is the least wrong choice (only the first few objects
        # of a stream can be older than everything they could refer to).
        return objects[self.rng.randrange(limit)] if limit else objects[0]

    def pick_reference(self, references: tuple[type, ...]) -> str | None:
        for reference in references:
            definition = stream_for_object(str(getattr(reference, "OBJECT_NAME", "")))
            if definition is not None and (picked := self.pick(definition.name)) is not None:
                return str(picked["id"])
        return None

    def account_object(self) -> dict[str, Any]:
        self.current_created = self.config.start - 30 * SECONDS_PER_DAY
        account = self.synthesizer.build(stripe.Account, created=self.current_created)
        account.update(
            id=self.account_id,
            object="account",
            created=self.current_created,
            type="express" if self.connected else "standard",
            charges_enabled=True,
            payouts_enabled=True,
            country="US",
            default_currency="usd",
        )
        account.pop("deleted", None)
        return account


@functools.cache
def _generation_order() -> tuple[StripeStreamDefinition, ...]:
    """Catalog streams ordered so that referenced streams come first (cycles broken by CREATION_ORDER)."""
    catalog = [d for d in stripe_catalog() if d.name != "account"]
    by_object = {d.object_name: d.name for d in catalog}
    depends: dict[str, set[str]] = {}
    for definition in catalog:
        targets = {
            by_object[str(getattr(ref, "OBJECT_NAME", ""))]
            for f in definition.fields
            if f.type.expandable
            for ref in f.type.references
            if str(getattr(ref, "OBJECT_NAME", "")) in by_object
        }
        depends[definition.name] = (targets | DEPENDS_ON.get(definition.name, frozenset())) - {
            definition.name
        }
    ordered: list[StripeStreamDefinition] = []
    done: set[str] = set()
    pending = list(catalog)
    while pending:
        ready = [d for d in pending if depends[d.name] <= done]
        chosen = (
            ready[0]
            if ready
            else min(pending, key=lambda d: (_cycle_rank(d.name), len(depends[d.name] - done)))
        )
        ordered.append(chosen)
        done.add(chosen.name)
        pending.remove(chosen)
    return tuple(ordered)


def _cycle_rank(name: str) -> int:
    return CREATION_ORDER.index(name) if name in CREATION_ORDER else len(CREATION_ORDER)


def _nested_item_class(definition: StripeStreamDefinition, field_name: str) -> type:
    field_definition = next(f for f in definition.fields if f.name == field_name)
    assert field_definition.type.kind is FieldKind.LIST
    assert field_definition.type.item is not None
    return field_definition.type.item.references[0]


def _prefix_of(cls: type) -> str:
    return id_prefix(str(getattr(cls, "OBJECT_NAME", "object")))
