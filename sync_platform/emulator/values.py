"""Realistic values for an SDK object class's fields, drawn from a seeded random generator.

Shapes come from the SDK's type annotations (``sdk_fields``): field names, nullability, enums,
nested objects, arrays and expandable references. Plausible contents come from field names
(``email``, ``currency``, ``*_url``, amounts, timestamps). Optional fields are filled with a
probability that falls with depth, which keeps objects close to the size of real ones.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sync_platform.emulator.ids import random_id
from sync_platform.sources.stripe.id_prefixes import id_prefix
from sync_platform.sources.stripe.sdk_fields import FieldDefinition, FieldKind, FieldType, object_fields

MAX_DEPTH = 3
FILL_OPTIONAL = (0.55, 0.3, 0.15, 0.0)  # chance that a nullable field holds a value, by depth
SECONDS_PER_DAY = 86_400

FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Donald", "Radia", "Linus")
LAST_NAMES = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Knuth",
    "Perlman",
)
WORDS = (
    "basic",
    "pro",
    "team",
    "annual",
    "monthly",
    "starter",
    "premium",
    "usage",
    "seat",
    "storage",
    "support",
)
CURRENCIES = ("usd", "usd", "usd", "eur", "gbp", "cad")
COUNTRIES = ("US", "US", "GB", "DE", "FR", "CA", "AU")

# Picks the id of an existing object for an expandable field, given the classes it may refer to;
# None means "no such object exists" (the field then gets a well-formed id that leads nowhere).
ReferencePicker = Callable[[tuple[type, ...]], str | None]


class ObjectSynthesizer:
    """Builds one object of an SDK class at a time; every choice comes from ``rng``."""

    def __init__(
        self, rng: random.Random, pick_reference: ReferencePicker, *, livemode: bool = False
    ) -> None:
        self.rng = rng
        self.pick_reference = pick_reference
        self.livemode = livemode

    def build(self, cls: type, *, created: int, depth: int = 0) -> dict[str, Any]:
        """An object with every field of ``cls``; the caller sets ``id`` and relations that matter."""
        return {f.name: self.value(f, created=created, depth=depth) for f in object_fields(cls)}

    def value(self, field: FieldDefinition, *, created: int, depth: int) -> Any:
        field_type = field.type
        if field.name == "livemode":
            return self.livemode
        if field.name in ("created", "updated") and field_type.kind is FieldKind.INTEGER:
            return created
        if field.name == "deleted":
            return None
        if field_type.nullable and self.rng.random() >= FILL_OPTIONAL[min(depth, MAX_DEPTH)]:
            # Stripe sends an empty hash, not null, for maps (metadata, currency_options), and the
            # SDK cannot read a null one.
            return {} if field_type.kind is FieldKind.OBJECT and field_type.item is not None else None
        return self.typed_value(field.name, field_type, created=created, depth=depth)

    def typed_value(self, name: str, field_type: FieldType, *, created: int, depth: int) -> Any:
        rng = self.rng
        match field_type.kind:
            case FieldKind.STRING if field_type.expandable:
                return self.pick_reference(field_type.references) or self.fake_id(field_type.references)
            case FieldKind.STRING if field_type.enum:
                return rng.choice(field_type.enum)
            case FieldKind.STRING:
                return self.text(name)
            case FieldKind.DECIMAL:
                return f"{rng.randint(1, 99_999)}.{rng.randint(0, 99):02d}"
            case FieldKind.INTEGER if field_type.unix_time:
                return created + rng.randint(0, 30) * SECONDS_PER_DAY + rng.randint(0, SECONDS_PER_DAY)
            case FieldKind.INTEGER if field_type.enum:
                return rng.choice(field_type.enum)
            case FieldKind.INTEGER:
                return self.integer(name)
            case FieldKind.NUMBER:
                return round(rng.uniform(0, 100), 2)
            case FieldKind.BOOLEAN:
                return rng.random() < 0.5
            case FieldKind.OBJECT:
                return self.object_value(name, field_type, created=created, depth=depth)
            case FieldKind.ARRAY:
                return self.array_value(name, field_type, created=created, depth=depth)
            case FieldKind.LIST:
                return None  # nested lists are filled by the generator, which knows their items
            case _:
                return None

    def object_value(self, name: str, field_type: FieldType, *, created: int, depth: int) -> Any:
        if field_type.inner is not None:
            if depth >= MAX_DEPTH:
                return {}
            return self.build(field_type.inner, created=created, depth=depth + 1)
        if field_type.references:  # an embedded resource (not expandable): keep it small
            reference = field_type.references[0]
            return {"id": self.fake_id((reference,)), "object": getattr(reference, "OBJECT_NAME", None)}
        if name == "metadata" and self.rng.random() < 0.3:
            return {"order_id": f"ord_{self.rng.randint(10_000, 99_999)}"}
        return {}

    def array_value(self, name: str, field_type: FieldType, *, created: int, depth: int) -> list[Any]:
        item = field_type.item
        if item is None or depth >= MAX_DEPTH:
            return []
        count = self.rng.choice((0, 1, 1, 2)) if item.kind is FieldKind.OBJECT else self.rng.choice((0, 1, 2))
        values = [self.typed_value(name, item, created=created, depth=depth + 1) for _ in range(count)]
        return [value for value in values if value is not None]

    def fake_id(self, references: tuple[type, ...]) -> str:
        object_name = getattr(references[0], "OBJECT_NAME", "object") if references else "object"
        return random_id(id_prefix(str(object_name)), self.rng)

    def text(self, name: str) -> str:
        rng = self.rng
        if name == "currency" or name.endswith("_currency"):
            return rng.choice(CURRENCIES)
        if name == "country" or name.endswith("_country"):
            return rng.choice(COUNTRIES)
        if "email" in name:
            first, last = rng.choice(FIRST_NAMES).lower(), rng.choice(LAST_NAMES).lower()
            return f"{first}.{last}{rng.randint(1, 999)}@example.com"
        if "phone" in name:
            return f"+1555{rng.randint(1_000_000, 9_999_999)}"
        if name.endswith(("url", "_pdf")):
            return f"https://example.com/{name}/{rng.randint(100_000, 999_999)}"
        if name.endswith("name") or name == "nickname":
            return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        if name in ("description", "statement_descriptor", "footer", "unit_label"):
            return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 4))).capitalize()
        if name in ("line1", "line2"):
            return f"{rng.randint(1, 999)} {rng.choice(LAST_NAMES)} Street"
        if name == "city":
            return rng.choice(("Springfield", "Riverside", "Franklin", "Greenville", "Bristol"))
        if name == "postal_code":
            return f"{rng.randint(10_000, 99_999)}"
        if name in ("last4", "dynamic_last4"):
            return f"{rng.randint(0, 9_999):04d}"
        return f"{name}_{rng.randint(1_000, 999_999)}"

    def integer(self, name: str) -> int:
        rng = self.rng
        if "amount" in name or name in ("total", "subtotal", "balance", "net", "fee", "unit_amount"):
            return rng.choice((0, 500, 1_000, 1_999, 2_500, 4_900, 9_900, 19_900, rng.randint(50, 500_000)))
        if name in ("exp_year", "year"):
            return rng.randint(2026, 2032)
        if name in ("exp_month", "month"):
            return rng.randint(1, 12)
        if name == "quantity":
            return rng.randint(1, 5)
        return rng.randint(0, 10)
