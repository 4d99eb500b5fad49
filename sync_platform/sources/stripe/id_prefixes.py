"""The id prefix Stripe gives each object type (``cus_``, ``in_``), the one fact the SDK does not carry.

The table holds the prefixes of the objects people sync most; any other object gets a prefix
derived from its name (``billing.credit_grant`` -> ``bcg_``), which is enough for the emulator's
generated ids to look like Stripe's and for a reader to tell object types apart. Nothing decides
behaviour from a prefix: Stripe does not promise them.
"""

from __future__ import annotations

import re

KNOWN_ID_PREFIXES: dict[str, str] = {
    "account": "acct_",
    "application_fee": "fee_",
    "balance_transaction": "txn_",
    "charge": "ch_",
    "checkout.session": "cs_",
    "credit_note": "cn_",
    "customer": "cus_",
    "dispute": "du_",
    "event": "evt_",
    "file": "file_",
    "invoice": "in_",
    "invoiceitem": "ii_",
    "item": "li_",
    "line_item": "il_",
    "payment_intent": "pi_",
    "payment_link": "plink_",
    "payment_method": "pm_",
    "payout": "po_",
    "plan": "plan_",
    "price": "price_",
    "product": "prod_",
    "promotion_code": "promo_",
    "quote": "qt_",
    "refund": "re_",
    "setup_intent": "seti_",
    "subscription": "sub_",
    "subscription_item": "si_",
    "subscription_schedule": "sub_sched_",
    "tax_id": "txi_",
    "tax_rate": "txr_",
    "topup": "tu_",
    "transfer": "tr_",
    "webhook_endpoint": "we_",
}


def id_prefix(object_name: str) -> str:
    """The prefix of ids of ``object_name`` objects: Stripe's where known, else the name's initials."""
    if object_name in KNOWN_ID_PREFIXES:
        return KNOWN_ID_PREFIXES[object_name]
    words = [word for word in re.split(r"[._]", object_name) if word]
    return "".join(word[0] for word in words) + "_"
