"""The links between generated objects that must agree, and how many items nested lists hold.

Generic generation already points every top-level reference at an existing object; these shapers
make related objects consistent with each other, as they are in a real account: an invoice of a
subscription bills that subscription's customer, a charge carries its payment intent's amount
and customer, a refund never exceeds its charge, and subscription items embed real prices.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any, Protocol

JsonObject = dict[str, Any]


class GenerationContext(Protocol):
    rng: random.Random

    def pick(self, stream: str, *, not_after: int | None = None) -> JsonObject | None: ...

    def children_of(self, stream: str, field_name: str, parent_id: str) -> list[JsonObject]: ...


# (stream, nested list) -> (fewest, most, share of parents with a long list, long list size range).
# Long lists (more than the 10 items Stripe embeds) make the source fetch the remaining pages.
CHILD_COUNTS: Mapping[tuple[str, str], tuple[int, int, float, tuple[int, int]]] = {
    ("invoice", "lines"): (1, 3, 0.06, (11, 40)),
    ("subscription", "items"): (1, 2, 0.03, (11, 20)),
    ("checkout_session", "line_items"): (1, 4, 0.03, (11, 15)),
    ("credit_note", "lines"): (1, 2, 0.0, (0, 0)),
    ("quote", "line_items"): (1, 3, 0.0, (0, 0)),
    ("payment_link", "line_items"): (1, 3, 0.0, (0, 0)),
}
# Streams a shaper picks from, which must therefore be generated first.
DEPENDS_ON: Mapping[str, frozenset[str]] = {
    "price": frozenset({"product"}),
    "subscription": frozenset({"price", "customer"}),
    "invoice": frozenset({"subscription", "customer"}),
    "payment_intent": frozenset({"customer"}),
    "charge": frozenset({"payment_intent"}),
    "refund": frozenset({"charge"}),
    "dispute": frozenset({"charge"}),
    "credit_note": frozenset({"invoice"}),
}
PRICES = (500, 900, 1_900, 2_900, 4_900, 9_900, 19_900, 49_900)


def _customer(context: GenerationContext, customer: JsonObject) -> None:
    name = str(customer.get("name") or "Ada Lovelace")
    customer["name"] = name
    customer["email"] = f"{name.lower().replace(' ', '.')}{context.rng.randint(1, 9_999)}@example.com"
    customer["currency"] = "usd"


def _price(context: GenerationContext, price: JsonObject) -> None:
    if (product := context.pick("product")) is not None:
        price["product"] = product["id"]
    price["currency"] = "usd"
    price["unit_amount"] = context.rng.choice(PRICES)
    price["unit_amount_decimal"] = str(price["unit_amount"])
    price["type"] = "recurring" if price.get("recurring") else "one_time"


def _subscription(context: GenerationContext, subscription: JsonObject) -> None:
    subscription["currency"] = "usd"
    for item in context.children_of("subscription", "items", subscription["id"]):
        item["subscription"] = subscription["id"]
        if (price := context.pick("price")) is not None:
            item["price"] = dict(price)
        item["quantity"] = context.rng.randint(1, 5)


def _invoice(context: GenerationContext, invoice: JsonObject) -> None:
    subscription = context.pick("subscription") if context.rng.random() < 0.7 else None
    if subscription is not None:
        invoice["customer"] = subscription.get("customer")
        invoice["parent"] = {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription["id"]},
        }
    else:
        customer = context.pick("customer")
        invoice["customer"] = customer["id"] if customer is not None else None
        invoice["parent"] = None
    invoice["currency"] = "usd"
    lines = context.children_of("invoice", "lines", invoice["id"])
    for line in lines:
        line["invoice"] = invoice["id"]
        line["currency"] = "usd"
        line["amount"] = context.rng.choice(PRICES)
    total = sum(int(line["amount"]) for line in lines)
    invoice.update(subtotal=total, total=total, amount_due=total)


def _payment_intent(context: GenerationContext, intent: JsonObject) -> None:
    customer = context.pick("customer") if context.rng.random() < 0.85 else None
    intent["customer"] = customer["id"] if customer is not None else None
    intent["currency"] = "usd"
    intent["amount"] = context.rng.choice(PRICES)


def _charge(context: GenerationContext, charge: JsonObject) -> None:
    intent = context.pick("payment_intent")
    charge["amount"] = context.rng.choice(PRICES)
    if intent is not None:
        charge.update(
            payment_intent=intent["id"],
            customer=intent.get("customer"),
            amount=intent["amount"],
            currency=intent["currency"],
        )
    charge["amount_refunded"] = 0


def _refund(context: GenerationContext, refund: JsonObject) -> None:
    charge = context.pick("charge")
    if charge is not None:
        refund.update(
            charge=charge["id"],
            payment_intent=charge.get("payment_intent"),
            currency=charge.get("currency", "usd"),
            amount=max(1, int(charge["amount"]) // context.rng.choice((1, 2, 4))),
        )


def _dispute(context: GenerationContext, dispute: JsonObject) -> None:
    charge = context.pick("charge")
    if charge is not None:
        dispute.update(
            charge=charge["id"], payment_intent=charge.get("payment_intent"), amount=charge.get("amount")
        )


def _credit_note(context: GenerationContext, credit_note: JsonObject) -> None:
    invoice = context.pick("invoice")
    if invoice is not None:
        credit_note.update(invoice=invoice["id"], customer=invoice.get("customer"), currency="usd")


SHAPERS: Mapping[str, Callable[[Any, JsonObject], None]] = {
    "customer": _customer,
    "price": _price,
    "subscription": _subscription,
    "invoice": _invoice,
    "payment_intent": _payment_intent,
    "charge": _charge,
    "refund": _refund,
    "dispute": _dispute,
    "credit_note": _credit_note,
}
