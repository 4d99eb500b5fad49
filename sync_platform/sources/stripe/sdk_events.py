"""Which Stripe object each webhook event type is about, read from the stripe SDK.

The full list of v1 event types is the ``enabled_events`` Literal of ``WebhookEndpointCreateParams``.
The object an event carries is known exactly for the types the SDK ships a ``V1…EventNotification``
class for (its ``fetch_related_object`` is annotated with the object's class): that is how
``charge.dispute.created`` maps to ``dispute`` and ``application_fee.refund.updated`` to
``fee_refund`` rather than ``refund``. The remaining types are matched by prefix: another type with
the same prefix whose object is known, or a prefix that is itself an object name
(``treasury.outbound_payment.posted`` -> ``treasury.outbound_payment``). Types that match nothing
(``balance.available``, ``customer.source.created``) concern no listable stream.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import typing
from collections.abc import Iterable

import stripe.events
from stripe.params._webhook_endpoint_create_params import WebhookEndpointCreateParams

from sync_platform.sources.stripe.sdk_source import SdkIntrospectionError, resolve_name

_V1_LOOKUP_PREFIX = "v1."


@functools.cache
def webhook_event_types() -> tuple[str, ...]:
    """Every v1 event type a webhook endpoint can subscribe to (``*`` excluded), sorted."""
    annotation = WebhookEndpointCreateParams.__annotations__["enabled_events"]
    types = {value for value in _literal_values(annotation) if value != "*"}
    if not types:
        raise SdkIntrospectionError("WebhookEndpointCreateParams.enabled_events lists no event types")
    return tuple(sorted(types))


def _literal_values(annotation: object) -> Iterable[str]:
    if typing.get_origin(annotation) is typing.Literal:
        yield from (value for value in typing.get_args(annotation) if isinstance(value, str))
        return
    for argument in typing.get_args(annotation):
        yield from _literal_values(argument)


@functools.cache
def _related_objects_from_notifications() -> dict[str, str]:
    """``{event type: object name}`` from the SDK's v1 event-notification classes."""
    related: dict[str, str] = {}
    for info in pkgutil.iter_modules(stripe.events.__path__):
        if not info.name.startswith("_v1_"):
            continue
        module = importlib.import_module(f"{stripe.events.__name__}.{info.name}")
        for name, value in vars(module).items():
            if not (name.endswith("EventNotification") and isinstance(value, type)):
                continue
            lookup = getattr(value, "LOOKUP_TYPE", "")
            fetch = getattr(value, "fetch_related_object", None)
            if not lookup.startswith(_V1_LOOKUP_PREFIX) or fetch is None:
                continue
            class_name = str(inspect.signature(fetch).return_annotation).strip("\"'")
            object_name = getattr(resolve_name(module, class_name), "OBJECT_NAME", None)
            if isinstance(object_name, str):
                related[lookup.removeprefix(_V1_LOOKUP_PREFIX)] = object_name
    return related


def event_prefix(event_type: str) -> str:
    """``customer.subscription.updated`` -> ``customer.subscription``."""
    return event_type.rsplit(".", 1)[0]


def event_object_names(known_objects: Iterable[str]) -> dict[str, str]:
    """``{event type: object name}`` for every webhook event type that concerns one of ``known_objects``.

    ``known_objects`` are the object names of the listable resources; prefix matching only ever
    yields one of them, so a stray prefix cannot invent an object.
    """
    objects = set(known_objects)
    by_normalized_name = {name.replace(".", "_"): name for name in objects}
    exact = _related_objects_from_notifications()
    by_prefix = {event_prefix(event_type): name for event_type, name in exact.items()}
    mapping: dict[str, str] = {}
    for event_type in webhook_event_types():
        prefix = event_prefix(event_type)
        name = (
            exact.get(event_type) or by_prefix.get(prefix) or by_normalized_name.get(prefix.replace(".", "_"))
        )
        if name in objects:
            mapping[event_type] = name
    return mapping
