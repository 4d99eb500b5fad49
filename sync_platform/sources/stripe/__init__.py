"""The Stripe source: its catalog (derived from the installed ``stripe`` SDK) and its connector.

``StripeSource`` and ``StripeSourceConfig`` load on first use (PEP 562): the emulator imports
this package for the catalog alone, and should not pay for the connector's modules.
"""

from typing import TYPE_CHECKING, Any

from sync_platform.sources.stripe.catalog import (
    API_VERSION,
    EXCLUDED_OBJECTS,
    PRIMARY_KEY,
    STREAM_NAME_ALIASES,
    NestedListDefinition,
    StripeStreamDefinition,
    UnknownStripeStreamError,
    catalog_payload,
    stream_by_name,
    stream_for_object,
    stream_name,
    stripe_catalog,
)
from sync_platform.sources.stripe.json_schema import ACCOUNT_ID_FIELD, UPDATED_AT_FIELD

if TYPE_CHECKING:
    from sync_platform.sources.stripe.config import StripeSourceConfig
    from sync_platform.sources.stripe.source import StripeSource

_LAZY = {
    "StripeSource": "sync_platform.sources.stripe.source",
    "StripeSourceConfig": "sync_platform.sources.stripe.config",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ACCOUNT_ID_FIELD",
    "API_VERSION",
    "EXCLUDED_OBJECTS",
    "PRIMARY_KEY",
    "STREAM_NAME_ALIASES",
    "UPDATED_AT_FIELD",
    "NestedListDefinition",
    "StripeSource",
    "StripeSourceConfig",
    "StripeStreamDefinition",
    "UnknownStripeStreamError",
    "catalog_payload",
    "stream_by_name",
    "stream_for_object",
    "stream_name",
    "stripe_catalog",
]
