"""Which product area a stream belongs to, so a person choosing among fifty streams sees groups.

A source may say it itself (a ``group`` in the stream's metadata). Otherwise a Stripe stream whose
list path has a namespace (``/v1/issuing/cards``, ``/v1/billing/meters``) is grouped by it, and the
top-level objects by the areas of Stripe's API reference. Anything else is "other".
"""

from __future__ import annotations

from typing import Any

_AREAS = {
    "payments": (
        "charge", "payment_intent", "payment_method", "setup_intent", "refund", "dispute", "payout",
        "balance_transaction", "file", "three_d_secure_authentication", "payment_link",
    ),
    "billing": (
        "customer", "invoice", "invoiceitem", "invoice_payment", "subscription", "subscription_schedule",
        "credit_note", "quote", "plan", "tax_id", "tax_rate", "test_helpers_test_clock",
    ),
    "products": ("product", "price", "coupon", "promotion_code", "shipping_rate"),
    "connect": ("account", "application_fee", "transfer", "topup"),
    "fraud": ("review", "early_fraud_warning"),
    "checkout": ("checkout_session",),
}  # fmt: skip
_AREA_OF = {stream: area for area, streams in _AREAS.items() for stream in streams}
_NAMESPACE_AREA = {"radar": "fraud", "billing_portal": "billing", "test_helpers": "billing"}


def stream_group(name: str, metadata: dict[str, Any] | None) -> str:
    """The stream's group: the source's own, its API area, or ``other``."""
    metadata = metadata or {}
    own = metadata.get("group")
    if isinstance(own, str) and own:
        return own
    if name in _AREA_OF:
        return _AREA_OF[name]
    path = metadata.get("list_path")
    if isinstance(path, str):
        parts = [part for part in path.split("/") if part and part != "v1"]
        if len(parts) > 1:
            return _NAMESPACE_AREA.get(parts[0], parts[0])
        if parts and parts[0] in _NAMESPACE_AREA:
            return _NAMESPACE_AREA[parts[0]]
    return "other"
