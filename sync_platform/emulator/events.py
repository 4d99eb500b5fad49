"""Stripe events: which type a change gets, and the event object webhooks and /v1/events carry.

An event carries a snapshot of the object (``data.object``) and, for updates, the previous values
of what changed (``data.previous_attributes``), exactly as ``/v1/events`` and webhooks deliver
them. Event ids sort in creation order, so events of the same second list newest first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sync_platform.emulator.errors import EmulatorError
from sync_platform.sources.stripe import API_VERSION, StripeStreamDefinition
from sync_platform.sources.stripe.sdk_events import event_prefix


class ChangeKind(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    DELETED = "deleted"


def main_event_prefix(definition: StripeStreamDefinition) -> str:
    """The prefix most of a stream's event types share (``customer.subscription`` for subscriptions)."""
    counts = Counter(event_prefix(event_type) for event_type in definition.event_types)
    return max(sorted(counts), key=lambda prefix: counts[prefix])


def event_type_for(
    definition: StripeStreamDefinition, change: ChangeKind, requested: str | None = None
) -> str:
    """The event type Stripe sends for ``change`` to an object of this stream.

    ``<prefix>.created|updated|deleted`` when Stripe has it; otherwise, for creations and updates,
    the stream's first other event type (a checkout session has ``checkout.session.completed``
    but no ``.updated``). A requested type must be one of the stream's event types.
    """
    if requested is not None:
        if requested not in definition.event_types:
            raise EmulatorError(
                f"{requested!r} is not an event type of stream {definition.name!r}. "
                f"Use one of: {', '.join(definition.event_types)}."
            )
        return requested
    preferred = f"{main_event_prefix(definition)}.{change.value}"
    if preferred in definition.event_types:
        return preferred
    same_verb = [t for t in definition.event_types if t.endswith(f".{change.value}")]
    if same_verb:
        return same_verb[0]
    if change is ChangeKind.DELETED:
        raise EmulatorError(
            f"Stripe reports no deletion of {definition.object_name} objects, so stream "
            f"{definition.name!r} cannot be deleted from. Update the object instead."
        )
    return next(t for t in definition.event_types if not t.endswith(".deleted"))


@dataclass(frozen=True)
class EventSpec:
    """What one change produces: its type, the object snapshot and what changed."""

    event_type: str
    data_object: Mapping[str, Any]
    previous_attributes: Mapping[str, Any] | None = None


def build_event(
    spec: EventSpec, *, event_id: str, created: int, account_id: str | None, request_id: str | None
) -> dict[str, Any]:
    """The event object, as ``/v1/events`` returns it and webhooks deliver it."""
    data: dict[str, Any] = {"object": dict(spec.data_object)}
    if spec.previous_attributes is not None:
        data["previous_attributes"] = dict(spec.previous_attributes)
    event: dict[str, Any] = {
        "id": event_id,
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "data": data,
        "livemode": bool(spec.data_object.get("livemode", False)),
        "pending_webhooks": 0,
        "request": {"id": request_id, "idempotency_key": None},
        "type": spec.event_type,
    }
    if account_id is not None:
        event["account"] = account_id
    return event
