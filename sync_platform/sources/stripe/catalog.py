"""The Stripe streams, derived from the installed ``stripe`` SDK at its pinned API version.

A stream is a v1 resource that (1) has a top-level ``list`` endpoint needing no parameter beyond
paging (``limit``, ``starting_after``, ``ending_before``, ``created``, ``expand``), and (2) is the
object of at least one webhook event type, because only those can be kept current after the
backfill. Everything about a stream (list path, capabilities, events, nested lists, schema) is read
from the SDK; the only hand-kept facts are the two small tables below and the id prefixes.
An upgrade of ``stripe`` therefore changes the catalog, and the snapshot test shows the diff.

The reading itself is ``sdk_catalog``'s, and it runs only when the committed index
(``catalog_index``) was built from another release: this module imports nothing of the SDK, so a
sync, which reads the index, does not pay the ~0.25 s of CPU that importing ``stripe`` costs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping

from sync_platform.errors import FailureKind, SyncPlatformError, did_you_mean
from sync_platform.protocol import CatalogPayload
from sync_platform.sources.stripe.json_schema import admitted_account_ids
from sync_platform.sources.stripe.sdk_release import installed_version
from sync_platform.sources.stripe.stream_definitions import (
    API_VERSION,
    PRIMARY_KEY,
    NestedListDefinition,
    StripeStreamDefinition,
)

__all__ = [
    "API_VERSION",
    "EXCLUDED_OBJECTS",
    "PRIMARY_KEY",
    "STREAM_NAME_ALIASES",
    "NestedListDefinition",
    "StripeStreamDefinition",
    "UnknownStripeStreamError",
    "build_catalog",
    "catalog_payload",
    "stream_by_name",
    "stream_for_object",
    "stream_name",
    "stripe_catalog",
]

# Stream names are object names with "." -> "_", except where the reference system (and users'
# existing tables) use a shorter name.
STREAM_NAME_ALIASES: Mapping[str, str] = {"radar.early_fraud_warning": "early_fraud_warning"}

# Objects that pass the rules but cannot be listed on their own in practice.
EXCLUDED_OBJECTS: Mapping[str, str] = {
    "billing.credit_balance_transaction": (
        "the API requires `customer` or `customer_account` although the SDK marks neither as required"
    ),
}


class UnknownStripeStreamError(SyncPlatformError, LookupError):
    """A stream name that is not in the installed SDK's catalog (the pipeline's config names it)."""

    failure_kind = FailureKind.CONFIG

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name, self.known = name, sorted(known)
        super().__init__(
            f"Stream {name!r} is not in the Stripe catalog of stripe {installed_version()} "
            f"(API {API_VERSION}).{did_you_mean(name, self.known)} Pick one of the streams that "
            "`sync-platform streams` lists, or upgrade `stripe` if the object type is new."
        )


def stream_name(object_name: str) -> str:
    """``checkout.session`` -> ``checkout_session`` (with the aliases in ``STREAM_NAME_ALIASES``)."""
    return STREAM_NAME_ALIASES.get(object_name, object_name.replace(".", "_"))


@functools.cache
def _catalog() -> tuple[StripeStreamDefinition, ...]:
    """The committed index when it was built from the installed SDK, else the SDK read now (~1 s)."""
    from sync_platform.sources.stripe import catalog_index  # imported here: it is also a script

    return catalog_index.load(installed_version()) or build_catalog()


def build_catalog() -> tuple[StripeStreamDefinition, ...]:
    """Every syncable stream, read from the installed SDK now (see the module docstring; ~1 s)."""
    from sync_platform.sources.stripe import sdk_catalog  # imports the SDK: only on a cache miss

    return sdk_catalog.build_catalog()


def stripe_catalog() -> list[StripeStreamDefinition]:
    """Every syncable stream, in the SDK's service order (computed once per process)."""
    return list(_catalog())


@functools.cache
def _by_name() -> dict[str, StripeStreamDefinition]:
    return {definition.name: definition for definition in _catalog()}


@functools.cache
def _by_object() -> dict[str, StripeStreamDefinition]:
    return {definition.object_name: definition for definition in _catalog()}


def stream_by_name(name: str) -> StripeStreamDefinition:
    """The stream called ``name``; an unknown name raises an error that suggests the closest one."""
    try:
        return _by_name()[name]
    except KeyError:
        raise UnknownStripeStreamError(name, _by_name()) from None


def stream_for_object(object_name: str) -> StripeStreamDefinition | None:
    """The stream of a Stripe object (``event.data.object.object``), or None if it is not synced."""
    return _by_object().get(object_name)


def catalog_payload(account_ids: list[str] | None, streams: Iterable[str] | None = None) -> CatalogPayload:
    """The protocol catalog for the given accounts (``_account_id`` admits exactly those ids; any
    account when ``account_ids`` is None, for a catalog read before the account is known)."""
    definitions = [stream_by_name(name) for name in streams] if streams is not None else list(_catalog())
    admitted = admitted_account_ids(account_ids) if account_ids is not None else None
    return CatalogPayload(streams=[definition.to_stream(admitted) for definition in definitions])
