"""The Stripe source: its catalog of streams, derived from the installed ``stripe`` SDK."""

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

__all__ = [
    "ACCOUNT_ID_FIELD",
    "API_VERSION",
    "EXCLUDED_OBJECTS",
    "PRIMARY_KEY",
    "STREAM_NAME_ALIASES",
    "UPDATED_AT_FIELD",
    "NestedListDefinition",
    "StripeStreamDefinition",
    "UnknownStripeStreamError",
    "catalog_payload",
    "stream_by_name",
    "stream_for_object",
    "stream_name",
    "stripe_catalog",
]
